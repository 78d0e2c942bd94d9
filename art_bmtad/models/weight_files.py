"""Finding and fetching a zoo's weight file in its local layout: what every zoo adapter shares.

A zoo adapter decides *where* its files live (the torch hub cache, RobustBench's ``model_dir``, ...) and what its
error message says about them; these helpers do the rest the same way for all of them. Finding a file builds no
model and imports no torch (the front door checks weights before any work); only :func:`torch_hub_checkpoints`
and :func:`download_url` import torch, when called.
"""
from __future__ import annotations

from pathlib import Path

from art_bmtad.models.zoo import MissingWeightsError, weights_file_or_folder

TORCH_HUB_FOLDER_HINT = ("or set TORCH_HOME, or give another folder: weights= in Python, --weights-dir on the "
                         "command line")
"""How a user points a torch-hub-cache zoo at another folder, for :func:`require_weight_file`'s message."""


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``), where torch hub keeps published files."""
    from torch.hub import get_dir

    return Path(get_dir()) / "checkpoints"


def torch_hub_weights_path(file_name: str, weights: str | Path | None = None) -> Path:
    """The file a torch-hub-cache zoo reads for a model published as ``file_name``, present or not.

    Args:
        file_name: the published file name (``cifar10_resnet20-4118986f.pt``, ``resnet50-11ad3fa6.pth``).
        weights: a weight file (by its suffix), else the folder holding ``file_name``; ``None``: the hub cache.
    """
    file, folder = weights_file_or_folder(weights)
    if file is not None:
        return file
    return (torch_hub_checkpoints() if folder is None else folder) / file_name


def require_weight_file(path: Path, *, model: str, put: str, folder_hint: str, download_hint: str = "") -> Path:
    """``path`` when the file is there.

    Args:
        path: the file the zoo reads.
        model: the qualified name (``cifar/resnet20``), first in the message.
        put: what to put in the folder (``resnet20.pt (published at <url>)``).
        folder_hint: how else to point the zoo at the file (see :data:`TORCH_HUB_FOLDER_HINT`).
        download_hint: what ``download=True`` needs besides itself (``" and the robustbench package"``).

    Raises:
        MissingWeightsError: it is not; the message names the absolute file, its folder and ``download=True``.
    """
    if path.is_file():
        return path
    where = path.absolute()
    raise MissingWeightsError(
        f"{model}: weight file not found: {where}. Put {put} in the folder {where.parent} ({folder_hint}), or fetch "
        f"it with create_model(..., download=True){download_hint}"
    )


def download_url(path: Path, url: str, hash_prefix: str | None = None) -> Path:
    """Fetch ``url`` into ``path`` (torch hub's download, ``hash_prefix`` of its SHA-256 checked) unless it is there.

    Only for an explicit ``download=True``: nothing downloads otherwise.
    """
    if not path.is_file():
        from torch.hub import download_url_to_file

        path.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(url, str(path), hash_prefix=hash_prefix)
    return path


__all__ = ["TORCH_HUB_FOLDER_HINT", "download_url", "require_weight_file", "torch_hub_checkpoints",
           "torch_hub_weights_path"]
