"""Where the ``cifar`` zoo's published files live: ``$TORCH_HOME/hub/checkpoints/<published file name>``.

Finding a file builds no model (the front door checks weights before any work); torch is imported only
to ask ``torch.hub.get_dir()`` for the cache folder.
"""
from __future__ import annotations

from pathlib import Path

from art_bmtad.models.weight_files import (TORCH_HUB_FOLDER_HINT, download_url, require_weight_file,
                                           torch_hub_weights_path)
from art_bmtad_cifar import catalog


def weights_path(model: str, weights: str | Path | None = None) -> Path:
    """The file ``create(model, pretrained=True, weights=weights)`` reads, present or not.

    Args:
        model: a name of the zoo.
        weights: a weight file (by its suffix: ``.pt``, ...), else the folder holding the file under its
            published name; ``None``: the hub cache.
    """
    return torch_hub_weights_path(catalog.weight_file_name(*catalog.parse_name(model)), weights)


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """:func:`weights_path` when the file is there.

    Raises:
        MissingWeightsError: it is not; the message names the file, the folder, the URL and ``download=True``.
    """
    dataset, arch = catalog.parse_name(model)
    return require_weight_file(
        weights_path(model, weights), model=f"cifar/{model}", folder_hint=TORCH_HUB_FOLDER_HINT,
        put=f"{catalog.weight_file_name(dataset, arch)} (published at {catalog.weight_url(dataset, arch)})")


def download(model: str, weights: str | Path | None = None) -> Path:
    """Fetch the published file into :func:`weights_path` unless it is there (only on an explicit ``download=True``)."""
    return download_url(weights_path(model, weights), catalog.weight_url(*catalog.parse_name(model)))
