"""``--log BACKEND``: the run trackers of ``train``, ``bench`` and ``tune`` (``art_bmtad.tracking``)."""
from __future__ import annotations

import argparse


def add_log_option(parser: argparse._ActionsContainer) -> None:
    """Add ``--log``: repeatable or comma-separated backend names, checked by :func:`check_log_option`."""
    parser.add_argument(
        "--log", action="extend", type=_names, default=[], metavar="BACKEND",
        help="also log the recipe, the per-step and per-epoch history and the evaluation to a tracking backend: "
             "tensorboard (RUN_DIR/tensorboard/), mlflow (MLFLOW_TRACKING_URI, else RUN_DIR/mlflow.db) or a "
             "plugin's; repeat it or separate names with commas (needs art-bmtad[tensorboard] or [mlflow])",
    )


def check_log_option(args: argparse.Namespace) -> list[str]:
    """The ``--log`` backends, each registered and installed (checked before any work).

    Raises:
        UnknownNameError: an unknown backend (the message lists the known ones).
        ValueError: a backend's package is missing (the message says what to install).
    """
    from art_bmtad.tracking import check_tracking

    names = list(dict.fromkeys(args.log))
    check_tracking(names)
    return names


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give a backend name, e.g. tensorboard or mlflow")
    return names
