"""The recipe of a training or benchmark run: one dataclass with grouped fields, checked before anything runs.

A :class:`Recipe` fixes everything a run depends on: the data and its split, the student, the teachers, the
threat model of training, the schedule, the B-MTARD balancing, the evaluation and the defences to compare.
It is built from layers, each overriding the one before::

    defaults  <-  preset (art_bmtad.recipes.presets)  <-  YAML/TOML file  <-  command-line overrides ("schedule.epochs=3")

:func:`load_recipe` merges the layers and checks them: an unknown key, a value of the wrong type or an
unknown defence, model, dataset or option name raises :class:`ConfigError` naming the key and the allowed
values. :func:`write_recipe` saves the resolved recipe (YAML) beside a run's results, and that file loads
back to the same recipe, so a run can be repeated exactly.

Units: ``eps`` and ``eps_step`` are in [0, 1] pixel units (a fraction such as ``"8/255"`` is accepted);
``milestones`` are epochs (1-based, as ``MultiStepLR`` counts epoch ends).
"""
from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import yaml

from art_bmtad.algorithm.selection import SELECTION_METRICS
from art_bmtad.evaluation.settings import ATTACKS, AUTOATTACK_VARIANTS, check_reference_available
from art_bmtad.recipes.defence_options import DISTILLATION_BALANCING, PLAIN, check_defence_options, paper_options
from art_bmtad.recipes.presets import list_presets, preset_values
from art_bmtad.utils.checks import at_least, check_finite, check_threat, one_of, positive
from art_bmtad.utils.errors import ConfigError
from art_bmtad.utils.numbers import parse_fraction

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_DEFENCES = ("bmtard", "mtard", "rslad", "ard", "art-madry-pgd", "art-trades")
"""Defences a benchmark trains unless told otherwise."""
EXTRA_DEFENCES = ("art-awp", "art-fbf", "plain")
"""Built-in defences trained only when asked (``--all`` or ``defences=[...]``)."""
TEACHER_KINDS = ("clean", "madry", "trades")
RECIPE_FILE = "config.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML lets the last one win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice (line {key_node.start_mark.line + 1}); keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no Python objects), refusing duplicated keys.

    Raises:
        ConfigError: a key given twice in one mapping.
        yaml.YAMLError: a syntax error.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


# --------------------------------------------------------------------------------------------- the groups
@dataclass
class DataConfig:
    """Which data, and how it is split.

    Attributes:
        source: a registered dataset (``digits``, ``cifar10``, ``cifar100``, ``npz``, ``imagefolder``, or one a
            plugin adds) or a path ending in ``.npz``.
        path: the ``.npz`` file of ``source: npz``.
        root: folder of torchvision's CIFAR layout or of an image-folder tree.
        n_train: size of the training pool (training + validation), a seeded stratified subset; ``null``: all.
        n_test: size of the test subset; ``null``: all.
        val_size: held out of the training pool for checkpoint selection: a fraction, or a count.
        download: let torchvision download CIFAR (needs a network).
    """

    source: str = "digits"
    path: str | None = None
    root: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    val_size: int | float = 0.1
    download: bool = False


@dataclass
class StudentConfig:
    """The student every defence trains, from the same initial weights.

    Attributes:
        model: a registry model name: ``<zoo>/<model>`` (``timm/resnet18``, ``cifar/resnet20``), a bare timm name,
            or a single registered model (``art-bmtad models`` lists them).
        cifar_stem: 3x3 stride-1 stem without max-pool (timm ResNets on 32x32 inputs).
        model_kwargs: extra options of the model's zoo (e.g. timm's ``drop_rate``).
    """

    model: str = "resnet18"
    cifar_stem: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TeacherRecipe:
    """One teacher: a zoo model with its published weights, loaded from a checkpoint, or trained (and cached) by
    :mod:`art_bmtad.pipeline.teacher_prep`.

    Attributes:
        model: registry model name (``<zoo>/<model>``, a bare timm name, a registered model) of a teacher trained
            here, or of the zoo model whose published weights are used (``pretrained``).
        kind: ``clean``, ``madry`` or ``trades`` (how a teacher trained here is trained).
        epochs: training epochs of a teacher trained here.
        lr: SGD learning rate of a teacher trained here.
        cifar_stem: CIFAR stem for a teacher trained here.
        augment: random crop and flip (``clean`` only).
        milestones: epochs after which a robust teacher's learning rate is multiplied by 0.1; empty: constant.
        checkpoint: a saved classifier (``.safetensors`` with its JSON, e.g. from ``art-bmtad teachers --out``)
            to use instead of training one.
        pretrained: use ``model``'s published weights from its zoo's local files (``teachers.weights_dir``) instead
            of training one, e.g. ``robustbench/Zhang2019Theoretically``; missing files stop the run before any work.
    """

    model: str = "resnet18"
    kind: str = "clean"
    epochs: int = 10
    lr: float = 0.1
    cifar_stem: bool = False
    augment: bool = False
    milestones: list[int] = field(default_factory=list)
    checkpoint: str | None = None
    pretrained: bool = False


@dataclass
class TeachersConfig:
    """The robust teacher (sees adversarial inputs) and the clean teacher (sees natural inputs).

    Attributes:
        robust: the adversarially trained teacher (B-MTARD, MTARD, RSLAD and ARD use it).
        clean: the naturally trained teacher (B-MTARD and MTARD use it).
        cache_dir: teacher cache; ``null``: ``$ART_BMTAD_CACHE/teachers``, else ``teachers`` in the platform's
            cache folder (``~/.cache/art-bmtad/teachers`` on Linux).
        weights_dir: where pretrained teachers' weight files are (a zoo's root folder, in the zoo's own layout);
            ``null``: each zoo's default folder.
        download: let the zoos of pretrained teachers fetch missing weight files through their own download path
            (needs a network); otherwise a missing file stops the run before any work.
    """

    robust: TeacherRecipe = field(default_factory=lambda: TeacherRecipe(kind="madry"))
    clean: TeacherRecipe = field(default_factory=TeacherRecipe)
    cache_dir: str | None = None
    weights_dir: str | None = None
    download: bool = False


@dataclass
class ThreatConfig:
    """The Linf budget of training (every defence and the robust teacher) and of the evaluation.

    Attributes:
        eps: radius in [0, 1] pixel units.
        eps_step: PGD step size during training.
        max_iter: PGD steps per training batch (and of the validation attack used for checkpoint selection).
    """

    eps: float = 8 / 255
    eps_step: float = 2 / 255
    max_iter: int = 10


@dataclass
class ScheduleConfig:
    """Optimiser, learning-rate schedule, batching and checkpoint selection, shared by every defence.

    Attributes:
        epochs: training epochs.
        batch_size: batch size.
        lr: SGD learning rate.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        milestones: epochs after which the learning rate is multiplied by ``gamma`` (``MultiStepLR``); empty:
            constant. B-MTARD's balancer rates follow the learning rate.
        gamma: the factor at each milestone.
        augment: random crop (padding 4) and flip of each batch (the distillation defences; ART's trainers
            take arrays and train without it, which the results say).
        select_by: keep the epoch with the best validation ``robust``, ``clean`` or ``sum`` accuracy
            (validation split only); ``null`` keeps the last epoch.
        checkpoint_every: ``art-bmtad train`` also checkpoints every this many steps, not only at epoch ends
            (distillation defences), so a killed run loses at most that many steps.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    augment: bool = False
    select_by: str | None = "robust"
    checkpoint_every: int | None = None


@dataclass
class BalancingConfig:
    """B-MTARD's Entropy-Based Balance and Normalization Loss Balance (``weight_lr`` also drives MTARD).

    Attributes:
        temperature_lr: eta_tau.
        weight_lr: eta_w.
        t_min: lowest temperature (1 in the paper).
        t_max: highest temperature.
        t_init: initial temperature of both teachers.
        kl_scale: factor on every KL term of the distillation defences (1: the papers' CIFAR-10 setting; 10: the
            released CIFAR-100 scripts, undoing the 1/C of the KL's mean over classes).
        entropy_balance: B-MTARD's Entropy-Based Balance on; ``false`` keeps the temperatures at ``t_init``.
        loss_balance: B-MTARD's Normalization Loss Balance on; ``false`` keeps the loss weights at 0.5 / 0.5.
    """

    temperature_lr: float = 0.001
    weight_lr: float = 0.025
    t_min: float = 1.0
    t_max: float = 10.0
    t_init: float = 1.0
    kl_scale: float = 1.0
    entropy_balance: bool = True
    loss_balance: bool = True


@dataclass
class EvaluationConfig:
    """The one evaluation every model gets (:func:`art_bmtad.evaluation.evaluate_robustness`) on the test split.

    Attributes:
        attacks: attacks from ``clean, fgsm, pgd20, cw, autoattack``.
        n_examples: the first this many test examples; ``null``: all.
        batch_size: batch size of the attacks.
        autoattack: ``standard`` or ``art-default`` (ART's own class; not the papers' protocol).
        backend: who runs AutoAttack: ``art`` (assembled from ART's attacks) or ``reference`` (Croce & Hein's code,
            the ``pyautoattack`` package, as RobustBench runs it).
        apgd_steps: APGD iterations (standard 100).
        n_target_classes: APGD-T target classes (standard 9).
        square_queries: Square queries (standard 5,000).
        sanity_checks: run the gradient-masking checks.
        sanity_examples: examples the sanity checks attack.
    """

    attacks: list[str] = field(default_factory=lambda: ["clean", "fgsm", "pgd20", "cw", "autoattack"])
    n_examples: int | None = 1000
    batch_size: int = 256
    autoattack: str = "standard"
    backend: str = "art"
    apgd_steps: int = 100
    n_target_classes: int = 9
    square_queries: int = 5000
    sanity_checks: bool = True
    sanity_examples: int = 100


@dataclass
class Recipe:
    """Everything a ``train`` or ``bench`` run depends on.

    Attributes:
        preset: the preset the recipe started from (informational once resolved).
        defences: defences to train (registered names, or ``plain``).
        seed: seed of the data split, of every initialisation and of the attacks.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: ``torch.set_num_threads`` for the run; ``null``: PyTorch's default.
        amp: bf16 autocast in the distillation defences (ART's trainers train in fp32 whatever this says).
        channels_last: the channels-last memory format for the student of every defence and the distillation
            defences' batches (on a CPU some layers, e.g. average pooling, are much faster in it).
        data: see :class:`DataConfig`.
        student: see :class:`StudentConfig`.
        teachers: see :class:`TeachersConfig`.
        threat: see :class:`ThreatConfig`.
        schedule: see :class:`ScheduleConfig`.
        balancing: see :class:`BalancingConfig`.
        evaluation: see :class:`EvaluationConfig`.
        defence_options: per defence, keyword options of its factory on top of its paper's defaults (see
            :data:`art_bmtad.recipes.defence_options.PAPER_DEFAULTS`), e.g. ``{"art-trades": {"beta": 3.0},
            "art-awp": {"gamma": 0.005}, "art-fbf": {"eps_step": 0.04}, "rslad": {"kl_scale": 1.0}}``.
    """

    preset: str | None = None
    defences: list[str] = field(default_factory=lambda: list(DEFAULT_DEFENCES))
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = False
    channels_last: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    teachers: TeachersConfig = field(default_factory=TeachersConfig)
    threat: ThreatConfig = field(default_factory=ThreatConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    balancing: BalancingConfig = field(default_factory=BalancingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    defence_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain nested dicts and lists (what :func:`write_recipe` saves)."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------- building
def load_recipe(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    check_names: bool = True,
) -> Recipe:
    """Merge defaults, preset, file and overrides into a checked :class:`Recipe`.

    The preset is ``preset``, else the file's ``preset`` key, else none (the dataclass defaults).

    Args:
        preset: a name from :func:`art_bmtad.recipes.presets.list_presets`.
        config_file: a ``.yaml``/``.yml`` or ``.toml`` file with any subset of the recipe's keys.
        overrides: ``"group.key=value"`` strings (values parsed as YAML, e.g. ``defences=[bmtard,ard]``) or a
            mapping of dotted keys to values.
        check_names: also check defence, model, dataset and option names (:func:`check_names`).

    Returns:
        The recipe.

    Raises:
        ConfigError: unreadable file, unknown preset or key, wrong type, unknown name.
    """
    layer = read_config_file(config_file) if config_file is not None else {}
    dotted = parse_overrides(overrides)
    name = preset or dotted.get("preset") or layer.get("preset")
    merged = merge_dotted(deep_merge(preset_values(name) if name else {}, layer), dotted)
    if name:
        merged["preset"] = name
    recipe = recipe_from_dict(merged)
    if check_names:
        check_recipe_names(recipe)
    return recipe


def recipe_from_dict(values: Mapping[str, Any]) -> Recipe:
    """Build a recipe from nested values, checking every key and type.

    Args:
        values: any subset of the recipe's keys, nested by group.

    Returns:
        The recipe, defaults filling the rest.

    Raises:
        ConfigError: unknown key or wrong type, naming the dotted key and what is allowed.
    """
    return _build(Recipe, values, "")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or TOML recipe file into nested dicts.

    Raises:
        ConfigError: missing file, unknown suffix, a syntax error, or content that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as "
                          "UTF-8") from err
    try:
        if path.suffix in (".yaml", ".yml"):
            values = load_yaml(text)
        elif path.suffix == ".toml":
            values = tomllib.loads(text)
        else:
            raise ConfigError(f"config file {path}: use .yaml, .yml or .toml, not {path.suffix!r}")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ConfigError) as err:
        raise ConfigError(f"config file {path} cannot be parsed: {err}") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(values).__name__}")
    return values


def write_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Save the resolved recipe as YAML (loads back with ``load_recipe(config_file=path)``).

    Args:
        recipe: the recipe.
        path: the file to write; its folder is created.

    Returns:
        The path.
    """
    from art_bmtad.run.files import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Resolved art-bmtad recipe: re-run with --config this-file\n"
    return write_atomic(path, header + yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def parse_overrides(overrides: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["schedule.epochs=3"]`` (values parsed as YAML) or a mapping, as ``{dotted key: value}``.

    Raises:
        ConfigError: an override without ``=`` or with a value that is not valid YAML.
    """
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like group.key=value, e.g. schedule.epochs=3")
        try:
            parsed[key.strip()] = load_yaml(text) if text.strip() else None
        except (yaml.YAMLError, ConfigError) as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML: {err}") from err
    return parsed


def deep_merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``layer`` on top; nested mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_dotted(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with each dotted key of ``values`` set (``{"schedule.epochs": 3}`` sets ``base["schedule"]["epochs"]``),
    merged as :func:`deep_merge` merges; ``base`` is not changed."""
    merged = dict(base)
    for dotted, value in values.items():
        for key in reversed(dotted.split(".")):
            value = {key: value}
        merged = deep_merge(merged, value)
    return merged


# --------------------------------------------------------------------------------------------- types
def _build(cls: type, values: Any, prefix: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'the recipe'}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in values if key not in allowed]
    if unknown:
        raise ConfigError(_unknown_key_message(f"{prefix}{unknown[0]}", unknown[0], allowed, prefix))
    return cls(**{key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in values.items()})


def _unknown_key_message(dotted: str, key: str, allowed: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    group = f"'{prefix.rstrip('.')}'" if prefix else "the recipe"
    return f"unknown key '{dotted}'{hint}; allowed keys of {group}: {', '.join(allowed)}"


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the type ``hint`` (and converted where lossless), or :class:`ConfigError`."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce_union(value, [arg for arg in args if arg is not type(None)], key, type(None) in args)
    if origin is list:
        return _coerce_list(value, args[0], key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _type_error(key, "a mapping", value)
        return dict(value)
    return _coerce_scalar(value, hint, key)


def _coerce_union(value: Any, options: list[Any], key: str, nullable: bool) -> Any:
    """The first of ``options`` (in declaration order, e.g. ``int | float``) that accepts ``value``."""
    for option in options:
        try:
            return _coerce(value, option, key)
        except ConfigError:
            continue
    expected = " or ".join(_describe(option) for option in options)
    raise _type_error(key, expected + (" or null" if nullable else ""), value)


def _coerce_list(value: Any, item: type, key: str) -> list[Any]:
    if isinstance(value, str) and item is str:
        value = [part.strip() for part in value.split(",") if part.strip()]  # "bmtard,ard" from a command line
    if not isinstance(value, (list, tuple)):
        raise _type_error(key, f"a list of {_describe(item)}", value)
    return [_coerce(element, item, f"{key}[{index}]") for index, element in enumerate(value)]


def _coerce_scalar(value: Any, hint: type, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return parse_fraction(value)
            except ValueError:
                raise _type_error(key, "a number or a fraction such as 8/255", value) from None
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Any:
        return value
    raise _type_error(key, _describe(hint), value)


def _describe(hint: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _type_error(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{key}: expected {expected}, got {value!r} ({type(value).__name__})")


def resolve_options(name: str, recipe: Recipe) -> dict[str, Any]:
    """The options ``name`` trains with: shared threat model, its paper's defaults, the recipe's balancing (the
    distillation defences), then ``defence_options.<name>``; JSON-ready values only."""
    threat, balancing = recipe.threat, recipe.balancing
    options: dict[str, Any] = {} if name == PLAIN else {
        "eps": threat.eps, "eps_step": threat.eps_step, "max_iter": threat.max_iter}
    if name == "art-fbf":
        options.pop("max_iter")  # one FGSM step: the shared PGD step count does not apply
    options.update(paper_options(name, threat.eps))
    if name in DISTILLATION_BALANCING:
        options.update({key: getattr(balancing, key) for key in ("kl_scale", *DISTILLATION_BALANCING[name])})
    options.update(recipe.defence_options.get(name, {}))
    return options



# --------------------------------------------------------------------------------------------- names
def check_recipe_names(recipe: Recipe) -> None:
    """Check every name and range in a recipe against what exists, before anything is built or trained.

    Raises:
        ConfigError: the first problem, naming the key and the allowed values.
    """
    if recipe.preset is not None:
        one_of("preset", recipe.preset, list_presets())
    _check_defences(recipe.defences)
    _check_defence_options(recipe.defence_options)
    _check_data(recipe.data)
    _check_model("student.model", recipe.student.model)
    for role in ("robust", "clean"):
        _check_teacher(f"teachers.{role}", getattr(recipe.teachers, role))
    _check_numbers(recipe)
    _check_evaluation(recipe.evaluation)
    if recipe.schedule.select_by is not None:
        one_of("schedule.select_by", recipe.schedule.select_by, [*SELECTION_METRICS, None])
        if recipe.data.val_size == 0:
            raise ConfigError("schedule.select_by needs a validation split: set data.val_size > 0, or select_by null")
    one_of("device", recipe.device.split(":")[0], ("auto", "cpu", "cuda"))


def _check_defences(defences: list[str]) -> None:
    from art_bmtad.registry import list_defences

    if not defences:
        raise ConfigError("defences: the list is empty; name at least one defence")
    allowed = [*list_defences(), PLAIN]
    for index, name in enumerate(defences):
        one_of(f"defences[{index}]", name, allowed)
    repeated = sorted({name for name in defences if defences.count(name) > 1})
    if repeated:
        raise ConfigError(f"defences: {repeated} listed more than once")


def _check_data(data: DataConfig) -> None:
    from art_bmtad.registry import list_datasets

    if not data.source.endswith(".npz"):
        one_of("data.source", data.source, [*list_datasets(), "<path ending in .npz>"])
    if data.source == "npz" and data.path is None:
        raise ConfigError("data.path: no dataset file given: pass the .npz file with --data-path FILE.npz, or, for "
                          "CIFAR-10 or CIFAR-100, use torchvision's copy with --data cifar10 (or cifar100) "
                          "--data-path DIR, adding --download to fetch it into DIR")
    if isinstance(data.val_size, float) and not 0 <= data.val_size < 1 or data.val_size < 0:
        raise ConfigError(f"data.val_size: expected a fraction in [0, 1) or a count, got {data.val_size}")


def _check_model(key: str, name: str) -> None:
    from art_bmtad.registry import UnknownNameError, qualified_name

    try:
        qualified_name(name)
    except UnknownNameError as err:
        raise ConfigError(f"{key}: {err}") from None


def check_pretrained_teachers(recipe: Recipe, roles: Sequence[str]) -> None:
    """Check that each teacher of ``roles`` that uses published weights (``pretrained``) finds its weight file,
    without building anything: run it before any work (``train``, ``bench``).

    Raises:
        ConfigError: files are missing; the zoos' messages name every missing file and the folder to put it in.
    """
    from art_bmtad.registry import find_weights

    if recipe.teachers.download:
        return  # the zoos fetch what is missing when the teachers are built
    missing = []
    for role in roles:
        teacher: TeacherRecipe = getattr(recipe.teachers, role)
        if teacher.pretrained:
            try:
                find_weights(teacher.model, recipe.teachers.weights_dir)
            except (FileNotFoundError, ValueError) as err:
                missing.append(f"teachers.{role}.model: {err}")
    if missing:
        fetch = "it" if len(missing) == 1 else "them"
        raise ConfigError("; ".join(missing) + f" (art-bmtad: --download-weights, or teachers.download: true in a "
                          f"recipe, lets the zoo fetch {fetch})")


def _check_teacher(key: str, teacher: TeacherRecipe) -> None:
    if teacher.pretrained:
        if teacher.checkpoint is not None:
            raise ConfigError(f"{key}: pretrained and checkpoint both name the teacher's weights; keep one")
        _check_model(f"{key}.model", teacher.model)
        return
    if teacher.checkpoint is not None:
        from art_bmtad.models.zoo import WEIGHT_SUFFIXES

        given = Path(teacher.checkpoint)
        path = given if given.suffix in WEIGHT_SUFFIXES else given.with_suffix(".safetensors")
        if not (path.is_file() or given.is_dir()):
            hint = ""
            if "/" in teacher.checkpoint and not given.suffix:  # perhaps a zoo model's name with a typo
                from art_bmtad.registry import UnknownNameError, qualified_name

                try:
                    qualified_name(teacher.checkpoint)
                except UnknownNameError as err:
                    hint = f"; nor a model of an installed zoo: {err}"
            raise ConfigError(f"{key}.checkpoint: no saved classifier at {teacher.checkpoint}{hint}")
        return
    _check_model(f"{key}.model", teacher.model)
    one_of(f"{key}.kind", teacher.kind, TEACHER_KINDS)
    positive(f"{key}.epochs", teacher.epochs)
    if teacher.milestones and teacher.kind == "clean":
        raise ConfigError(f"{key}.milestones: only for robust teachers (madry, trades); clean ones use a cosine "
                          "schedule")
    if teacher.milestones != sorted(set(teacher.milestones)) or any(
            not 1 <= m < teacher.epochs for m in teacher.milestones):
        raise ConfigError(f"{key}.milestones: expected increasing epochs in [1, {teacher.epochs}), got "
                          f"{teacher.milestones}")


def _check_numbers(recipe: Recipe) -> None:
    """Ranges of every number and the relations between them, before anything is built."""
    check_finite(recipe.to_dict(), "")
    schedule, threat, balancing = recipe.schedule, recipe.threat, recipe.balancing
    check_threat(threat.eps, threat.eps_step, threat.max_iter, prefix="threat")
    positive("schedule.epochs", schedule.epochs)
    if schedule.batch_size < 2:
        raise ConfigError(f"schedule.batch_size: expected an integer >= 2, got {schedule.batch_size} (a batch of one "
                          "breaks BatchNorm in training, so every batch would be skipped)")
    at_least("schedule.lr", schedule.lr, 0, strict=True)
    at_least("schedule.gamma", schedule.gamma, 0, strict=True)
    for key in ("momentum", "weight_decay"):
        at_least(f"schedule.{key}", getattr(schedule, key), 0)
    if schedule.checkpoint_every is not None:
        positive("schedule.checkpoint_every", schedule.checkpoint_every)
    if not 0 <= recipe.seed < 2**32:
        raise ConfigError(f"seed: expected an integer in [0, 2**32), got {recipe.seed}")
    for key in ("n_train", "n_test"):
        if getattr(recipe.data, key) is not None:
            positive(f"data.{key}", getattr(recipe.data, key))
    for role in ("robust", "clean"):
        at_least(f"teachers.{role}.lr", getattr(recipe.teachers, role).lr, 0, strict=True)
    for key, value in (("balancing.kl_scale", balancing.kl_scale), ("balancing.t_min", balancing.t_min)):
        at_least(key, value, 0, strict=True)
    if not balancing.t_min <= balancing.t_init <= balancing.t_max:
        raise ConfigError(f"balancing: expected t_min <= t_init <= t_max, got {balancing.t_min}, {balancing.t_init}, "
                          f"{balancing.t_max}")
    for key in ("temperature_lr", "weight_lr"):
        at_least(f"balancing.{key}", getattr(balancing, key), 0)
    if schedule.milestones != sorted(set(schedule.milestones)) or any(m < 1 for m in schedule.milestones):
        raise ConfigError(f"schedule.milestones: expected increasing epochs >= 1, got {schedule.milestones}")
    if recipe.threads is not None:
        positive("threads", recipe.threads)


def _check_defence_options(options: dict[str, dict[str, Any]]) -> None:
    from art_bmtad.registry import list_defences

    for name, values in options.items():
        one_of("defence_options", name, [*list_defences(), PLAIN])
        if not isinstance(values, Mapping):
            raise _type_error(f"defence_options.{name}", "a mapping of option names to values", values)
        check_defence_options(name, values)


def _check_evaluation(evaluation: EvaluationConfig) -> None:
    for index, name in enumerate(evaluation.attacks):
        one_of(f"evaluation.attacks[{index}]", name, ATTACKS)
    one_of("evaluation.autoattack", evaluation.autoattack, AUTOATTACK_VARIANTS)
    one_of("evaluation.backend", evaluation.backend, ("art", "reference"))
    if evaluation.backend == "reference" and "autoattack" in evaluation.attacks:
        try:
            check_reference_available()
        except ValueError as err:
            raise ConfigError(f"evaluation.backend: {err}") from None
    for key in ("batch_size", "apgd_steps", "n_target_classes", "square_queries", "sanity_examples"):
        positive(f"evaluation.{key}", getattr(evaluation, key))
    if evaluation.n_examples is not None:
        positive("evaluation.n_examples", evaluation.n_examples)
