"""Where the ``torchvision`` zoo's published files live: ``$TORCH_HOME/hub/checkpoints/<the enum's file name>``.

Finding a file builds no model (the front door checks weights before any work).
"""
from __future__ import annotations

import re
from pathlib import Path

from art_bmtad.models.zoo import MissingWeightsError, weights_file_or_folder
from art_bmtad_torchvision import catalog

HASH_IN_FILE_NAME = re.compile(r"-([a-f0-9]+)\.")
"""torchvision's file names end in the first hex digits of the file's SHA-256."""


def weights_path(model: str, weights: str | Path | None = None) -> Path:
    """The file ``create(model, pretrained=True, weights=weights)`` reads, present or not.

    Args:
        model: ``resnet50`` or ``resnet50.IMAGENET1K_V1``.
        weights: a weight file (by its suffix: ``.pth``, ...), else the folder holding the file under its
            published name; ``None``: the hub cache.
    """
    _, enum_member = catalog.resolve(model)
    file, folder = weights_file_or_folder(weights)
    if file is not None:
        return file
    if folder is None:
        from torch.hub import get_dir

        folder = Path(get_dir()) / "checkpoints"
    return folder / catalog.weight_file_name(enum_member)


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """:func:`weights_path` when the file is there.

    Raises:
        MissingWeightsError: it is not; the message names the file, the folder, the weights and ``download=True``.
    """
    path = weights_path(model, weights)
    if path.is_file():
        return path
    _, enum_member = catalog.resolve(model)
    where = path.absolute()
    raise MissingWeightsError(
        f"torchvision/{model}: weight file not found: {where}. Put {catalog.weight_file_name(enum_member)} "
        f"({enum_member}, published at {enum_member.url}) in the folder {where.parent} (or set TORCH_HOME, or give "
        "another folder: weights= in Python, --weights-dir on the command line), or fetch it with "
        "create_model(..., download=True)"
    )


def download(model: str, weights: str | Path | None = None) -> Path:
    """Fetch the published file (its hash prefix checked) unless it is there; only on an explicit ``download=True``."""
    path = weights_path(model, weights)
    if not path.is_file():
        from torch.hub import download_url_to_file

        _, enum_member = catalog.resolve(model)
        found = HASH_IN_FILE_NAME.search(path.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(enum_member.url, str(path), hash_prefix=found.group(1) if found else None)
    return path
