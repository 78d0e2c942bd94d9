"""The names that plugins register (defences, models, model zoos, datasets, trackers) and the front doors that build
them.

The registry only records ``name -> factory``; building is the factory's job (as timm separates
``register_model`` from ``create_model``). Plugins are asked for their names through the
``art_bmtad_register_*`` hooks, one plugin at a time and in load order (built-ins first), so that
a failing plugin costs a warning and the first plugin to register a name keeps it. The names collected from the
hooks are kept until a plugin is registered or unregistered (or :func:`reset_plugin_manager`), so a name lookup does
not run every plugin's hook again.

Models have two sources: single models (``art_bmtad_register_models``, named as registered) and model zoos
(``art_bmtad_register_zoos``), whose models are named ``<zoo>/<model>``; a bare name that no single model
holds belongs to the default zoo, ``timm``. Registering a zoo imports nothing: its library is imported
when one of its models is listed, described or built.
"""
from __future__ import annotations

import difflib
import fnmatch
import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import pluggy

from art_bmtad import hookspecs
from art_bmtad.discovery import PluginSource, PluginWarning, load_plugins
from art_bmtad.models.zoo import ModelCfg, ModelZoo, split_name

if TYPE_CHECKING:
    from pathlib import Path

    from art.defences.trainer import Trainer
    from torch import nn

KINDS = ("defences", "models", "datasets", "trackers")
"""What plugins register by ``register(name, factory)``; hook ``art_bmtad_register_<kind>`` provides each."""
ZOOS = "zoos"
"""The kind registered by ``register(zoo)`` through ``art_bmtad_register_zoos``."""
DEFAULT_ZOO = "timm"
"""The zoo of bare model names."""


class UnknownNameError(KeyError, ValueError):
    """No plugin registered the requested name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and what it registers.

    Attributes:
        source: where the plugin came from (entry point, distribution, version).
        registers: the names it holds, by kind (``"defences"``, ``"models"``, ``"datasets"``, ``"zoos"``).
    """

    source: PluginSource
    registers: dict[str, list[str]]


class _Loaded(NamedTuple):
    manager: pluggy.PluginManager
    sources: dict[str, PluginSource]


class _Entry(NamedTuple):
    factory: Callable[..., Any]
    plugin: str


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, forgetting the collected names whenever a plugin is registered or unregistered."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            _collect.cache_clear()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        try:
            return super().unregister(plugin, name)
        finally:
            _collect.cache_clear()


@functools.cache
def _load() -> _Loaded:
    manager = _PluginManager("art_bmtad")
    manager.add_hookspecs(hookspecs)
    return _Loaded(manager, load_plugins(manager))


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager with every plugin loaded; built on first use, then cached."""
    return _load().manager


def reset_plugin_manager() -> None:
    """Forget the cached plugin manager and the names collected from it; the next use discovers plugins again."""
    _load.cache_clear()
    _collect.cache_clear()


def _source(plugin: str) -> PluginSource:
    loaded = _load()
    if plugin in loaded.sources:
        return loaded.sources[plugin]
    obj = loaded.manager.get_plugin(plugin)
    return PluginSource(plugin, getattr(obj, "__name__", type(obj).__name__))


def _registrar(table: dict[str, _Entry], kind: str, plugin: str) -> Callable[[str, Callable[..., Any]], None]:
    def register(name: str, factory: Callable[..., Any]) -> None:
        if kind != ZOOS and not callable(factory):
            warnings.warn(f"art-bmtad: {_source(plugin)} registers {kind[:-1]} {name!r} with a "
                          f"{type(factory).__name__}, which is not callable; refused", PluginWarning, stacklevel=2)
            return
        if name in table:
            warnings.warn(
                f"art-bmtad: {_source(plugin)} registers {kind[:-1]} {name!r}, which "
                f"{_source(table[name].plugin)} already registered; keeping the first",
                PluginWarning,
                stacklevel=2,
            )
            return
        table[name] = _Entry(factory, plugin)

    return register


def _zoo_registrar(table: dict[str, _Entry], plugin: str) -> Callable[[ModelZoo], None]:
    register_name = _registrar(table, ZOOS, plugin)

    def register(zoo: ModelZoo) -> None:
        if not isinstance(zoo, ModelZoo):
            raise TypeError(f"register() takes an art_bmtad.models.zoo.ModelZoo, not {type(zoo).__name__}")
        if not zoo.name or "/" in zoo.name:
            raise ValueError(f"zoo name {zoo.name!r} must be non-empty and without '/'")
        register_name(zoo.name, zoo)

    return register


@functools.cache
def _collect(kind: str) -> dict[str, _Entry]:
    """``name -> entry`` of every plugin's ``art_bmtad_register_<kind>`` hook (cached: see the module docstring; the
    table is shared, never changed by its callers)."""
    hook = getattr(get_plugin_manager().hook, f"art_bmtad_register_{kind}")
    table: dict[str, _Entry] = {}
    for impl in hook.get_hookimpls():  # registration order; pluggy itself would call last-first
        plugin = impl.plugin_name
        arguments = {"register": _zoo_registrar(table, plugin) if kind == ZOOS else _registrar(table, kind, plugin)}
        try:
            impl.function(*[arguments[name] for name in impl.argnames])
        except (Exception, SystemExit) as err:  # noqa: BLE001 - one failing plugin must not hide the others
            warnings.warn(f"art-bmtad: {_source(impl.plugin_name)} failed to register {kind}: {err!r}", PluginWarning)
    return table


def _create(kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
    table = _collect(kind)
    if name not in table:
        known = ", ".join(sorted(table)) or "(none)"
        raise UnknownNameError(f"unknown {kind[:-1]} {name!r}; known {kind}: {known}")
    return table[name].factory(*args, **{key: value for key, value in kwargs.items() if value is not None})


def list_defences() -> list[str]:
    """Names of all registered defences, sorted."""
    return sorted(_collect("defences"))


def create_defence(name: str, classifier: Any, **kwargs: Any) -> Trainer:
    """Build the defence ``name`` around ``classifier``.

    Args:
        name: a name from :func:`list_defences`.
        classifier: the ART classifier to train (usually a ``PyTorchClassifier``).
        **kwargs: options of that defence, e.g. ``eps``, ``eps_step``, ``max_iter``, teachers;
            those that are ``None`` are dropped so the defence's own defaults apply.

    Returns:
        An ART ``Trainer``; ``fit(x, y, validation_data=None, nb_epochs=..., batch_size=...)`` trains ``classifier``.

    Raises:
        UnknownNameError: no plugin registered ``name`` (a ``KeyError`` and a ``ValueError``).
    """
    trainer = _create("defences", name, classifier, **kwargs)
    if not callable(getattr(trainer, "fit", None)):
        raise ValueError(f"defence {name!r} ({_source(_collect('defences')[name].plugin)}) returned a "
                         f"{type(trainer).__name__}, not an ART Trainer with fit(); the plugin is broken")
    return trainer


def list_zoos() -> list[ModelZoo]:
    """Every registered model zoo, sorted by name (nothing of the zoos' libraries is imported)."""
    return [entry.factory for _, entry in sorted(_collect(ZOOS).items())]


def get_zoo(name: str) -> ModelZoo:
    """The zoo registered as ``name``.

    Raises:
        UnknownNameError: no plugin registered that zoo; the message lists the zoos.
    """
    zoos = _collect(ZOOS)
    if name not in zoos:
        raise UnknownNameError(f"unknown model zoo {name!r}; zoos: {', '.join(sorted(zoos)) or '(none)'}")
    return zoos[name].factory


def list_models(zoo: str | None = None, filter: str | None = None) -> list[str]:  # noqa: A002 - as timm names it
    """Model names: the qualified ``<zoo>/<model>`` names of every zoo (or of ``zoo``) and, without ``zoo``,
    the single models registered through ``art_bmtad_register_models``.

    Listing a zoo imports its library (timm's list needs timm); other zoos stay unimported when ``zoo`` is given.

    Args:
        zoo: only this zoo's models.
        filter: keep names matching this text: a shell-style pattern when it holds ``*``, ``?`` or ``[``
            (e.g. ``"resnet1*"``, matched against the qualified name and the name inside the zoo), else a
            substring; case-insensitive.

    Returns:
        The names, sorted.

    Raises:
        UnknownNameError: ``zoo`` is not registered.
    """
    zoos = [get_zoo(zoo)] if zoo is not None else list_zoos()
    names = [f"{each.name}/{model}" for each in zoos for model in each.list_models()]
    if zoo is None:
        names += list(_collect("models"))
    if filter:
        pattern = filter.lower() if any(char in filter for char in "*?[") else f"*{filter.lower()}*"
        names = [name for name in names if fnmatch.fnmatchcase(name.lower(), pattern)
                 or fnmatch.fnmatchcase(name.partition("/")[2].lower(), pattern)]
    return sorted(names)


def is_single_model(name: str) -> bool:
    """Whether ``name`` is a single model registered through ``art_bmtad_register_models`` (not a zoo model)."""
    return name in _collect("models")


def qualified_name(name: str) -> str:
    """The registry's name for ``name``: a single model's name as registered, else ``<zoo>/<model>``
    (``"resnet18"`` -> ``"timm/resnet18"``).

    Raises:
        UnknownNameError: neither a single model nor a model of a registered zoo; the message lists close
            matches and the zoos.
    """
    if name in _collect("models"):
        return name
    zoo_name, model = split_name(name, DEFAULT_ZOO)
    zoos = _collect(ZOOS)
    if zoo_name in zoos and model:
        try:
            zoos[zoo_name].factory.model_cfg(model)
        except KeyError:
            pass
        else:
            return f"{zoo_name}/{model}"
    raise _unknown_model(name, zoo_name if zoo_name in zoos else None)


def model_cfg(name: str) -> ModelCfg:
    """What the zoo says about model ``name`` (input size, normalisation, classes, weights); an empty
    :class:`ModelCfg` for a single registered model.

    Raises:
        UnknownNameError: unknown name (close matches listed).
    """
    qualified = qualified_name(name)
    if qualified in _collect("models"):
        return ModelCfg()
    zoo_name, model = split_name(qualified)
    return get_zoo(zoo_name).model_cfg(model)


def find_weights(name: str, weights: str | Path | None = None) -> Path | None:
    """The local file of model ``name``'s pretrained weights, checked without building the model.

    Args:
        name: a zoo model (qualified or bare timm name).
        weights: a weight file or the zoo's root folder; ``None``: the zoo's default folder.

    Returns:
        The file, or ``None`` when the zoo has nothing to check ahead (its ``create`` still checks).

    Raises:
        UnknownNameError: unknown name.
        ValueError: ``name`` is a single registered model, which has no pretrained weights to find.
        MissingWeightsError: the file is not there (the message names the file and the folder).
    """
    qualified = qualified_name(name)
    if qualified in _collect("models"):
        raise ValueError(f"{name!r} is a single registered model, not a zoo model: it has no pretrained weights")
    zoo_name, model = split_name(qualified)
    zoo = get_zoo(zoo_name)
    return None if zoo.find_weights is None else zoo.find_weights(model, weights=weights)


def create_model(name: str, **kwargs: Any) -> nn.Module | Any:
    """Build model ``name``: ``create_model("timm/resnet18", num_classes=10)``,
    ``create_model("robustbench/Zhang2019Theoretically", pretrained=True, weights="models")``,
    ``create_model("resnet18")`` (bare: timm), or a single registered model by its name.

    Args:
        name: a name from :func:`list_models`, or a bare timm name.
        **kwargs: options of the zoo's ``create`` (``pretrained``, ``weights``, ``num_classes`` and the zoo's
            own) or of the single model's factory; those that are ``None`` are dropped.

    Returns:
        A zoo model is an ``nn.Module`` taking inputs normalised as :func:`model_cfg` says; a single model is
        what its factory builds (an ``nn.Module`` or an ART ``PyTorchClassifier``).

    Raises:
        UnknownNameError: unknown name; the message lists close matches and the zoos.
        MissingWeightsError: ``pretrained=True`` and the weight file is not where the zoo keeps it.
    """
    qualified = qualified_name(name)
    options = {key: value for key, value in kwargs.items() if value is not None}
    models = _collect("models")
    if qualified in models:
        return models[qualified].factory(**options)
    zoo_name, model = split_name(qualified)
    return get_zoo(zoo_name).create(model, **options)


def _unknown_model(name: str, zoo_name: str | None) -> UnknownNameError:
    """The error for an unknown model name: close matches (in its zoo when the zoo exists) and the zoos."""
    try:
        candidates = list_models(zoo_name) if zoo_name is not None else list_models()
    except Exception:  # noqa: BLE001 - a zoo that cannot list itself must not hide the real error
        candidates = list(_collect("models"))
    qualified = name if zoo_name is None or name.startswith(f"{zoo_name}/") else f"{zoo_name}/{name}"
    close = difflib.get_close_matches(qualified, candidates, n=5, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    prefix, sep, _ = name.partition("/")
    if sep and zoo_name is None and not close and prefix not in _collect("models"):
        hint += (f"; no zoo {prefix!r} is installed: install its plugin (`pip install -e adapters/{prefix}` in a "
                 f"source checkout, or `pip install art-bmtad-{prefix}`)")
    zoos = ", ".join(sorted(_collect(ZOOS))) or "(none)"
    singles = ", ".join(sorted(_collect("models")))
    registered = f"; registered models: {singles}" if singles else ""
    return UnknownNameError(
        f"unknown model {name!r}{hint}; zoos: {zoos} (name their models <zoo>/<model>; bare names are "
        f"{DEFAULT_ZOO}'s){registered}; `art-bmtad models` lists them all"
    )


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return sorted(_collect("datasets"))


def create_dataset(name: str, **kwargs: Any) -> Any:
    """Load the dataset ``name``.

    Args:
        name: a name from :func:`list_datasets`.
        **kwargs: options of that dataset; those that are ``None`` are dropped.

    Returns:
        An :class:`art_bmtad.data.datasets.Dataset`.

    Raises:
        UnknownNameError: no plugin registered ``name``.
    """
    return _create("datasets", name, **kwargs)


def list_trackers() -> list[str]:
    """Names of all registered run trackers (``tensorboard``, ``mlflow``, plugins' own), sorted."""
    return sorted(_collect("trackers"))


def tracker_factory(name: str) -> Callable[..., Any]:
    """The factory registered as tracker ``name``, without opening anything.

    Raises:
        UnknownNameError: no plugin registered ``name``; the message lists the known ones.
    """
    table = _collect("trackers")
    if name not in table:
        raise UnknownNameError(f"unknown tracker {name!r}; known trackers: {', '.join(sorted(table)) or '(none)'}")
    return table[name].factory


def create_tracker(name: str, folder: Path, run_name: str) -> Any:
    """Open a run of the tracker ``name``: ``factory(folder, run_name)`` (see ``art_bmtad.tracking``).

    Raises:
        UnknownNameError: no plugin registered ``name``.
    """
    return tracker_factory(name)(folder, run_name)


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin, in load order, with its source and the names it holds (zoos by zoo name)."""
    tables = {kind: _collect(kind) for kind in (*KINDS, ZOOS)}

    def held_by(plugin: str, table: dict[str, _Entry]) -> list[str]:
        return sorted(name for name, entry in table.items() if entry.plugin == plugin)

    return [
        PluginInfo(_source(plugin), {kind: held_by(plugin, table) for kind, table in tables.items()})
        for plugin, _ in get_plugin_manager().list_name_plugin()
    ]
