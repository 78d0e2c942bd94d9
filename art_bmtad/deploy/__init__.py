"""Deploying the student: what it costs at inference, an exported file that serves it, and a check that what
ships is what was measured.

Modules: :mod:`~.folded` (normalisation folded into the network), :mod:`~.sources` (run folders, saved students,
zoo names), :mod:`~.cost` (parameters, FLOPs, weight size, peak memory, latency), :mod:`~.export` (ONNX,
TorchScript, safetensors, verified), :mod:`~.serving` (running an export; the serving check).
"""
