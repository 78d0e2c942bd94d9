"""The names that plugins register (defences, models, datasets) and the front doors that build them.

The registry only records ``name -> factory``; building is the factory's job (as timm separates
``register_model`` from ``create_model``). Plugins are asked for their names through the
``art_bmtad_register_*`` hooks, one plugin at a time and in load order (built-ins first), so that
a failing plugin costs a warning and the first plugin to register a name keeps it.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import pluggy

from art_bmtad import hookspecs
from art_bmtad.discovery import PluginSource, PluginWarning, load_plugins

if TYPE_CHECKING:
    from art.defences.trainer import Trainer

KINDS = ("defences", "models", "datasets")
"""What plugins register; hook ``art_bmtad_register_<kind>`` provides each."""


class UnknownNameError(KeyError, ValueError):
    """No plugin registered the requested name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and what it registers.

    Attributes:
        source: where the plugin came from (entry point, distribution, version).
        registers: the names it holds, by kind (``"defences"``, ``"models"``, ``"datasets"``).
    """

    source: PluginSource
    registers: dict[str, list[str]]


class _Loaded(NamedTuple):
    manager: pluggy.PluginManager
    sources: dict[str, PluginSource]


class _Entry(NamedTuple):
    factory: Callable[..., Any]
    plugin: str


@functools.cache
def _load() -> _Loaded:
    manager = pluggy.PluginManager("art_bmtad")
    manager.add_hookspecs(hookspecs)
    return _Loaded(manager, load_plugins(manager))


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager with every plugin loaded; built on first use, then cached."""
    return _load().manager


def reset_plugin_manager() -> None:
    """Forget the cached plugin manager; the next use discovers plugins again (for tests)."""
    _load.cache_clear()


def _source(plugin: str) -> PluginSource:
    loaded = _load()
    if plugin in loaded.sources:
        return loaded.sources[plugin]
    obj = loaded.manager.get_plugin(plugin)
    return PluginSource(plugin, getattr(obj, "__name__", type(obj).__name__))


def _registrar(table: dict[str, _Entry], kind: str, plugin: str) -> Callable[[str, Callable[..., Any]], None]:
    def register(name: str, factory: Callable[..., Any]) -> None:
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


def _collect(kind: str) -> dict[str, _Entry]:
    hook = getattr(get_plugin_manager().hook, f"art_bmtad_register_{kind}")
    table: dict[str, _Entry] = {}
    for impl in hook.get_hookimpls():  # registration order; pluggy itself would call last-first
        arguments = {"register": _registrar(table, kind, impl.plugin_name)}
        try:
            impl.function(*[arguments[name] for name in impl.argnames])
        except Exception as err:  # noqa: BLE001 - one failing plugin must not hide the others
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
    return _create("defences", name, classifier, **kwargs)


def list_models() -> list[str]:
    """Names of all registered model factories, sorted."""
    return sorted(_collect("models"))


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the model ``name``, e.g. ``create_model("timm", model_name="resnet18", num_classes=10)``.

    Args:
        name: a name from :func:`list_models`.
        **kwargs: options of that model; those that are ``None`` are dropped.

    Returns:
        A ``torch.nn.Module`` or an ART ``PyTorchClassifier``, as the factory builds it.

    Raises:
        UnknownNameError: no plugin registered ``name``.
    """
    return _create("models", name, **kwargs)


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return sorted(_collect("datasets"))


def create_dataset(name: str, **kwargs: Any) -> Any:
    """Load the dataset ``name``.

    Args:
        name: a name from :func:`list_datasets`.
        **kwargs: options of that dataset; those that are ``None`` are dropped.

    Returns:
        An :class:`art_bmtad.datasets.Dataset`.

    Raises:
        UnknownNameError: no plugin registered ``name``.
    """
    return _create("datasets", name, **kwargs)


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin, in load order, with its source and the names it holds."""
    tables = {kind: _collect(kind) for kind in KINDS}

    def held_by(plugin: str, table: dict[str, _Entry]) -> list[str]:
        return sorted(name for name, entry in table.items() if entry.plugin == plugin)

    return [
        PluginInfo(_source(plugin), {kind: held_by(plugin, table) for kind, table in tables.items()})
        for plugin, _ in get_plugin_manager().list_name_plugin()
    ]
