"""Command-line options shared by every sub-command, so that the same thing has the same name everywhere.

* :func:`add_data_options`: ``--data SOURCE``, ``--data-path PATH``, ``--n-train``, ``--n-test``, ``--val-size``,
  ``--download``;
* :func:`add_device_options`: ``--device``, ``--threads`` (default: the physical cores);
* :func:`add_output_options`: ``--out``, ``--quiet``;
* :func:`add_recipe_options` (``train``, ``bench``, ``tune``, ...): ``--preset``, ``--config``, ``--set``, the
  data and device options above as recipe keys, and shortcuts for other common keys (``--model``, ``--epochs``...).

Not a sub-command: :mod:`art_bmtad.cli` only loads the modules it lists. Light on purpose: building the parser
imports nothing heavy.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from art_bmtad.data.catalog import SOURCES
from art_bmtad.recipes.presets import PRESETS
from art_bmtad.recipes.recipe import Recipe, check_pretrained_teachers, load_recipe, parse_overrides
from art_bmtad.recipes.teacher_config import CACHE_ENV
from art_bmtad.utils.device import DEVICE_CHOICES
from art_bmtad.utils.numbers import parse_count_or_fraction, parse_fraction


def count_or_fraction(text: str) -> int | float:
    """An option's count (``200``), or a fraction such as ``0.1`` or ``8/255``."""
    try:
        return parse_count_or_fraction(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``low`` (a count of 0 would ask a command to do nothing)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from err
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def fraction(text: str) -> float:
    """An option's fraction such as ``8/255`` or ``0.03``."""
    try:
        return parse_fraction(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


DATA_OPTIONS: dict[str, tuple[str, Any, str, str]] = {
    # option dest: (recipe key, type, metavar, help)
    "data": ("data.source", str, "SOURCE", f"the dataset: {', '.join(SOURCES)}, one a plugin registers, or a path "
                                           "ending in .npz"),
    "data_path": ("data.path", str, "PATH", "where the dataset lives: the .npz file (npz), the folder of "
                                            "torchvision's CIFAR layout (cifar10, cifar100) or the image-folder "
                                            "tree (imagefolder)"),
    "n_train": ("data.n_train", int, "N", "training pool size, validation included (a seeded stratified subset)"),
    "n_test": ("data.n_test", int, "N", "test subset size (a seeded stratified subset)"),
    "val_size": ("data.val_size", count_or_fraction, "N|F", "held out of the training pool for validation: a "
                                                            "fraction or a count"),
}
"""The data options every command takes, and the recipe key each one sets in ``train``/``bench``."""
DEVICE_OPTIONS: dict[str, tuple[str, Any, str, str]] = {
    "device": ("device", str, "DEVICE", f"where to run: {', '.join(DEVICE_CHOICES)} (auto: cuda if available)"),
    "threads": ("threads", int, "N", "PyTorch CPU threads (default: the physical cores this process may use)"),
}
"""The device options every command takes."""
SHORTCUTS: dict[str, tuple[str, Any, str, str]] = {
    **DATA_OPTIONS,
    "model": ("student.model", str, "NAME", "the student architecture: a name of `art-bmtad models` "
                                            "(<zoo>/<model>, or a bare timm name)"),
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
                                                    "teachers in the platform's cache folder, on Linux "
                                                    "~/.cache/art-bmtad/teachers)"),
    "seed": ("seed", int, "S", "seed of the split, the initialisations and the attacks"),
    **DEVICE_OPTIONS,
}
"""Options that set one recipe key each; ``--set`` reaches every other key."""
FLAGS = {"download": "data.download", "download_weights": "teachers.download"}
"""Flag options that set a recipe key to true."""

PRESET_HELP = ", ".join(PRESETS)


def add_data_options(parser: argparse.ArgumentParser, *, recipe_keys: bool = False) -> argparse._ArgumentGroup:
    """Add the data options (every default ``None``: the command or the recipe decides).

    Args:
        parser: the sub-command's parser.
        recipe_keys: name the recipe key each option sets in its help (``train``, ``bench``).

    Returns:
        The "data" option group.
    """
    group = parser.add_argument_group("data")
    _add(group, DATA_OPTIONS, recipe_keys)
    group.add_argument("--download", action="store_const", const=True, default=None,
                       help="let torchvision download CIFAR into --data-path (needs a network)"
                            + (" [data.download]" if recipe_keys else ""))
    return group


def add_device_options(parser: argparse.ArgumentParser, *, recipe_keys: bool = False) -> argparse._ArgumentGroup:
    """Add ``--device`` and ``--threads`` (defaults ``None``: auto, and the physical cores)."""
    group = parser.add_argument_group("device")
    _add(group, DEVICE_OPTIONS, recipe_keys)
    return group


def add_output_options(parser: argparse.ArgumentParser, *, out_help: str, metavar: str = "PATH",
                       required: bool = False) -> argparse._ArgumentGroup:
    """Add ``--out`` (what it names is the command's) and ``--quiet``."""
    group = parser.add_argument_group("output")
    group.add_argument("--out", type=Path, metavar=metavar, required=required, help=out_help)
    add_quiet_option(group)
    return group


def add_quiet_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--quiet`` after the sub-command too (``art-bmtad --quiet train`` keeps working: no default is set here)."""
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors, no progress bars (ART's included)")


def add_recipe_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--preset``, ``--config``, ``--set``, the data and device options and the shortcuts to a sub-command's
    parser (each shortcut sets one recipe key, named in its help)."""
    recipe = parser.add_argument_group(
        "recipe", "layers, each overriding the one before: preset, --config file, shortcut options, --set")
    recipe.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                        help=f"start from a preset: {PRESET_HELP} (see art_bmtad/recipes/presets.py)")
    recipe.add_argument("--config", type=Path, metavar="FILE",
                        help="a YAML or TOML recipe (any subset of the keys in a run's config.yaml); it may name "
                             "its preset with a top-level `preset:` key")
    recipe.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any recipe key, value in YAML syntax, e.g. --set schedule.lr=0.05 "
                             "--set threat.eps=8/255 --set defences=[bmtard,ard] (repeatable)")
    add_data_options(parser, recipe_keys=True)
    add_device_options(parser, recipe_keys=True)
    shortcuts = parser.add_argument_group("shortcuts", "each sets one recipe key (shown in brackets)")
    _add(shortcuts, {dest: option for dest, option in SHORTCUTS.items()
                     if dest not in DATA_OPTIONS and dest not in DEVICE_OPTIONS}, recipe_keys=True)
    shortcuts.add_argument("--download-weights", action="store_const", const=True, default=None,
                           help="let the zoos of pretrained teachers (--robust-teacher ZOO/MODEL) download missing "
                                "weight files through their own download path (needs a network) [teachers.download]")
    add_quiet_option(parser)


def _add(group: argparse._ArgumentGroup, options: dict[str, tuple[str, Any, str, str]], recipe_keys: bool) -> None:
    for dest, (key, kind, metavar, help_text) in options.items():
        group.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=kind, metavar=metavar,
                           help=f"{help_text} [{key}]" if recipe_keys else help_text)


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
    overrides.update({key: True for dest, key in FLAGS.items() if getattr(args, dest, None)})
    for role in ("robust", "clean"):
        _zoo_teacher_to_pretrained(overrides, role)
    overrides.update(extra or {})
    overrides.update(parse_overrides(args.overrides))
    recipe = load_recipe(args.preset, args.config or config_file, overrides)
    from art_bmtad.pipeline.training import teachers_needed

    check_pretrained_teachers(recipe, teachers_needed(recipe.defences))  # missing weight files stop before any work
    return recipe


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
    """Progress bars unless ``--quiet`` (every tqdm bar in the process, ART's included, and only on a terminal).

    Returns:
        Whether to show progress.
    """
    from art_bmtad.utils.progress import set_progress

    progress = not getattr(args, "quiet", False)
    set_progress(progress)
    return progress
