"""Where the ``torchvision`` zoo's published files live: ``$TORCH_HOME/hub/checkpoints/<the enum's file name>``.

Finding a file builds no model (the front door checks weights before any work).
"""
from __future__ import annotations

import re
from pathlib import Path

from art_bmtad.models.weight_files import (TORCH_HUB_FOLDER_HINT, download_url, require_weight_file,
                                           torch_hub_weights_path)
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
    return torch_hub_weights_path(catalog.weight_file_name(enum_member), weights)


def find_weights(model: str, weights: str | Path | None = None) -> Path:
    """:func:`weights_path` when the file is there.

    Raises:
        MissingWeightsError: it is not; the message names the file, the folder, the weights and ``download=True``.
    """
    _, enum_member = catalog.resolve(model)
    return require_weight_file(
        weights_path(model, weights), model=f"torchvision/{model}", folder_hint=TORCH_HUB_FOLDER_HINT,
        put=f"{catalog.weight_file_name(enum_member)} ({enum_member}, published at {enum_member.url})")


def download(model: str, weights: str | Path | None = None) -> Path:
    """Fetch the published file (its hash prefix checked) unless it is there; only on an explicit ``download=True``."""
    path = weights_path(model, weights)
    _, enum_member = catalog.resolve(model)
    found = HASH_IN_FILE_NAME.search(path.name)
    return download_url(path, enum_member.url, hash_prefix=found.group(1) if found else None)
