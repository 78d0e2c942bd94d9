"""Built-in plugin: every timm architecture as model ``timm``, e.g. ``create_model("timm", model_name="resnet18")``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from art_bmtad.hookspecs import ModelFactory, hookimpl

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


def timm_model(model_name: str, **kwargs: Any) -> PyTorchClassifier:
    """:func:`art_bmtad.adapters.timm.timm_classifier` for ``model_name`` (imported on first use).

    Args:
        model_name: any name from ``timm.list_models()``.
        **kwargs: options of ``timm_classifier`` (``num_classes``, ``dataset``, ``lr``, ...).

    Returns:
        The timm model as an ART ``PyTorchClassifier``, normalisation inside.
    """
    from art_bmtad.adapters.timm import timm_classifier

    return timm_classifier(model_name, **kwargs)


@hookimpl
def art_bmtad_register_models(register: Callable[[str, ModelFactory], None]) -> None:
    """Register :func:`timm_model`."""
    register("timm", timm_model)
