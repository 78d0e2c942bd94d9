"""Deploying the student: what it costs at inference, an exported file that serves it, and a check that what
ships is what was measured::

    from art_bmtad.deploy import export_student, load_source, measure_cost, fold_normalisation, serving_check

    source = load_source("runs/student")                       # or a saved .safetensors, or "timm/resnet18"
    report = measure_cost(fold_normalisation(source.classifier), source.classifier.input_shape, batch_sizes=(1, 128))
    result = export_student("runs/student", "onnx")            # runs/student/student.onnx + .onnx.json, verified
    serving = serving_check(result.path, x_test, y_test)        # clean and transfer attacks on the exported file

Modules: :mod:`~.folded` (normalisation folded into the network), :mod:`~.sources` (run folders, saved students,
zoo names), :mod:`~.cost` (parameters, FLOPs, weight size, peak memory, latency), :mod:`~.export` (ONNX,
TorchScript, safetensors, verified), :mod:`~.serving` (running an export; the serving check),
:mod:`~.benchmark` (the benchmark's deployment columns and plot), :mod:`~.timm_folder` (a timm model folder for
timm and the Hugging Face hub) with its :mod:`~.model_card`.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CostReport": "art_bmtad.deploy.cost",
    "measure_cost": "art_bmtad.deploy.cost",
    "ExportResult": "art_bmtad.deploy.export",
    "export_student": "art_bmtad.deploy.export",
    "FoldedClassifier": "art_bmtad.deploy.folded",
    "fold_normalisation": "art_bmtad.deploy.folded",
    "ExportedModel": "art_bmtad.deploy.serving",
    "open_export": "art_bmtad.deploy.serving",
    "serving_check": "art_bmtad.deploy.serving",
    "load_source": "art_bmtad.deploy.sources",
    "TimmFolder": "art_bmtad.deploy.timm_folder",
    "export_timm_folder": "art_bmtad.deploy.timm_folder",
}
"""Public names, imported on first use: their modules need torch, and the benchmark's renderer must not."""

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'art_bmtad.deploy' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
