"""Command-line options shared by ``train`` and ``bench``: the recipe layers and shortcuts for common keys.

Not a sub-command: :mod:`art_bmtad.cli` only loads the modules it lists.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from art_bmtad.config import Recipe, load_recipe, parse_overrides
from art_bmtad.presets import PRESETS
from art_bmtad.teacher_config import CACHE_ENV

SHORTCUTS: dict[str, tuple[str, type, str, str]] = {
    # option dest: (recipe key, type, metavar, help)
    "data_path": ("data.path", str, "PATH", "the dataset's .npz file (cifar10-* presets: ../shared/data/cifar10.npz "
                                            "next to the repository)"),
    "n_train": ("data.n_train", int, "N", "training pool size, validation included (a seeded stratified subset)"),
    "epochs": ("schedule.epochs", int, "N", "training epochs of every defence"),
    "batch_size": ("schedule.batch_size", int, "B", "training batch size"),
    "n_examples": ("evaluation.n_examples", int, "N", "evaluate on the first N test examples"),
    "robust_teacher": ("teachers.robust.checkpoint", str, "PATH|ZOO/MODEL",
                       "use this saved robust teacher (.safetensors + .json, e.g. from `art-bmtad teachers --out`), "
                       "or a zoo model with its published weights, e.g. robustbench/Zhang2019Theoretically (sets "
                       "teachers.robust.model and .pretrained instead)"),
    "clean_teacher": ("teachers.clean.checkpoint", str, "PATH|ZOO/MODEL",
                      "use this saved clean teacher, or a zoo model with its published weights, e.g. cifar/resnet56"),
    "weights_dir": ("teachers.weights_dir", str, "DIR", "root folder of the zoos' weight files for pretrained "
                                                        "teachers, in each zoo's own layout (default: each zoo's own)"),
    "cache_dir": ("teachers.cache_dir", str, "DIR", f"teacher cache (default: ${CACHE_ENV}/teachers, else "
                                                    "~/.cache/art-bmtad/teachers)"),
    "seed": ("seed", int, "S", "seed of the split, the initialisations and the attacks"),
    "device": ("device", str, "DEVICE", "auto (cuda if available), cpu or cuda"),
    "threads": ("threads", int, "N", "PyTorch CPU threads (torch.set_num_threads)"),
}
"""Options that set one recipe key each; ``--set`` reaches every other key."""

PRESET_HELP = ", ".join(PRESETS)


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config``, ``--set`` and the shortcut options to a sub-command's parser."""
    recipe = parser.add_argument_group(
        "recipe", "layers, each overriding the one before: preset, --config file, shortcut options, --set")
    recipe.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                        help=f"start from a preset: {PRESET_HELP} (see art_bmtad/presets.py)")
    recipe.add_argument("--config", type=Path, metavar="FILE",
                        help="a YAML or TOML recipe (any subset of the keys in a run's config.yaml); it may name "
                             "its preset with a top-level `preset:` key")
    recipe.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any recipe key, value in YAML syntax, e.g. --set schedule.lr=0.05 "
                             "--set threat.eps=8/255 --set defences=[bmtard,ard] (repeatable)")
    shortcuts = parser.add_argument_group("shortcuts", "each sets one recipe key (shown in brackets)")
    for dest, (key, kind, metavar, help_text) in SHORTCUTS.items():
        shortcuts.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=kind, metavar=metavar,
                               help=f"{help_text} [{key}]")


def recipe_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None,
                     config_file: Path | None = None) -> Recipe:
    """The checked recipe the command line describes.

    Args:
        args: parsed options of :func:`add_recipe_options`.
        extra: further ``{dotted key: value}`` set by the command (applied before ``--set``).
        config_file: a recipe file to use when ``--config`` is not given (``--resume`` uses the run's own).

    Returns:
        The recipe.
    """
    overrides = {key: getattr(args, dest) for dest, (key, *_) in SHORTCUTS.items() if getattr(args, dest) is not None}
    for role in ("robust", "clean"):
        _zoo_teacher_to_pretrained(overrides, role)
    overrides.update(extra or {})
    overrides.update(parse_overrides(args.overrides))
    return load_recipe(args.preset, args.config or config_file, overrides)


def _zoo_teacher_to_pretrained(overrides: dict[str, Any], role: str) -> None:
    """``--robust-teacher robustbench/X``: a registered zoo's model (not an existing path) means that model with its
    published weights: ``teachers.<role>.model`` and ``.pretrained`` instead of ``.checkpoint``."""
    from art_bmtad.registry import list_zoos

    value = overrides.get(f"teachers.{role}.checkpoint")
    if value is None:
        return
    if Path(value).exists() or value.partition("/")[0] not in {zoo.name for zoo in list_zoos()}:
        overrides[f"teachers.{role}.pretrained"] = False  # a saved teacher replaces a preset's pretrained one
        return
    del overrides[f"teachers.{role}.checkpoint"]
    overrides.update({f"teachers.{role}.model": value, f"teachers.{role}.pretrained": True})


def quiet_or_progress(args: argparse.Namespace) -> bool:
    """Progress bars unless ``--quiet``; ART's INFO logging (one line per attack) is always silenced.

    ART's own trainers draw their epoch bars regardless; ``TQDM_DISABLE=1`` in the environment silences those.
    """
    logging.getLogger("art").setLevel(logging.WARNING)
    return not getattr(args, "quiet", False)
