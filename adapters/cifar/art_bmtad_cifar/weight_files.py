"""Where the ``cifar`` zoo's published files live: ``$TORCH_HOME/hub/checkpoints/<published file name>``.

Finding a file builds no model (the front door checks weights before any work); torch is imported only
to ask ``torch.hub.get_dir()`` for the cache folder.
"""
from __future__ import annotations

from pathlib import Path

from art_bmtad.models.zoo import MissingWeightsError, weights_file_or_folder
from art_bmtad_cifar import catalog


def weights_path(model: str, weights: str | Path | None = None) -> Path:
    """The file ``create(model, pretrained=True, weights=weights)`` reads, present or not.

    Args:
        model: a name of the zoo.
        weights: a weight file (by its suffix: ``.pt``, ...), else the folder holding the file under its
            published name; ``None``: the hub cache.
    """
    dataset, arch = catalog.parse_name(model)
    file, folder = weights_file_or_folder(weights)
    if file is not None:
        return file
    if folder is None:
        from torch.hub import get_dir

        folder = Path(get_dir()) / "checkpoints"
    return folder / catalog.weight_file_name(dataset, arch)


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """:func:`weights_path` when the file is there.

    Raises:
        MissingWeightsError: it is not; the message names the file, the folder, the URL and ``download=True``.
    """
    path = weights_path(model, weights)
    if path.is_file():
        return path
    dataset, arch = catalog.parse_name(model)
    where = path.absolute()
    raise MissingWeightsError(
        f"cifar/{model}: weight file not found: {where}. Put {catalog.weight_file_name(dataset, arch)} (published "
        f"at {catalog.weight_url(dataset, arch)}) in the folder {where.parent} (or set TORCH_HOME, or give another "
        "folder: weights= in Python, --weights-dir on the command line), or fetch it with "
        "create_model(..., download=True)"
    )


def download(model: str, weights: str | Path | None = None) -> Path:
    """Fetch the published file into :func:`weights_path` unless it is there (only on an explicit ``download=True``)."""
    path = weights_path(model, weights)
    if not path.is_file():
        from torch.hub import download_url_to_file

        path.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(catalog.weight_url(*catalog.parse_name(model)), str(path))
    return path
