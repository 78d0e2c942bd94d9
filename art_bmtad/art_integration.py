"""Opt-in registration of the project's trainers with ART's import path.

Importing :mod:`art_bmtad` leaves ART untouched; :func:`register_with_art` is the one place that
changes ``art.defences.trainer``.
"""
from __future__ import annotations

import importlib

from art_bmtad.plugins.defences import TRAINERS, TRAINERS_MODULE


def register_with_art() -> None:
    """Make the project's trainers importable from ``art.defences.trainer``.

    Afterwards ``from art.defences.trainer import AdversarialTrainerBMTARDPyTorch`` works, and
    likewise for the MTARD, RSLAD and ARD trainers. Calling it again changes nothing.
    """
    import art.defences.trainer as art_trainers

    trainers = importlib.import_module(TRAINERS_MODULE)
    for class_name in TRAINERS.values():
        setattr(art_trainers, class_name, getattr(trainers, class_name))
