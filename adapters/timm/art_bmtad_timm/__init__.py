"""timm's models as the art-bmtad model zoo ``timm``: ``timm/<name>`` (or the bare name) everywhere in art-bmtad.

Nothing here imports timm or torch until a model is listed, described or built.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from art_bmtad_timm.classifier import timm_classifier
    from art_bmtad_timm.stem import apply_cifar_stem

__all__ = ["apply_cifar_stem", "timm_classifier"]


def __getattr__(name: str) -> Any:
    if name == "timm_classifier":
        from art_bmtad_timm.classifier import timm_classifier

        return timm_classifier
    if name == "apply_cifar_stem":
        from art_bmtad_timm.stem import apply_cifar_stem

        return apply_cifar_stem
    raise AttributeError(f"module 'art_bmtad_timm' has no attribute {name!r}")
