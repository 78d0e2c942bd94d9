"""Checking a state dict against a model's before loading it, so that nothing loads partially."""
from __future__ import annotations

from typing import Mapping

import torch


def check_compatible(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path) -> None:
    """Raise a ValueError listing every missing key, unexpected key and shape mismatch of ``state`` (read from
    ``path``) against the model's ``expected`` state dict; no silent partial loads."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    found = {"missing keys": missing, "unexpected keys": unexpected, "shape mismatches": mismatched}
    problems = [f"{label} ({len(items)}): {', '.join(items)}" for label, items in found.items() if items]
    if problems:
        raise ValueError(f"checkpoint {path} does not match the model; " + "; ".join(problems))
