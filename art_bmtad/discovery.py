"""Plugin discovery: entry points in the ``art_bmtad`` group, each loaded in isolation from the others.

Discovery goes through :mod:`importlib.metadata` rather than pluggy's ``load_setuptools_entrypoints``
so that one broken plugin only costs a warning, and so that the distribution behind each plugin is
known for the ``plugins`` command and for warnings.
"""
from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import warnings
from dataclasses import dataclass

import pluggy

ENTRY_POINT_GROUP = "art_bmtad"
DISABLE_AUTOLOAD_ENV = "ART_BMTAD_DISABLE_PLUGIN_AUTOLOAD"
"""Set to a non-empty value to load only the built-in plugins (as ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``)."""
PROJECT_DISTRIBUTION = "art-bmtad"


class PluginWarning(UserWarning):
    """A plugin failed or clashed with another; the host goes on without that part of it."""


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from.

    Attributes:
        name: plugin name in the plugin manager (the entry-point name).
        module: what the plugin object is (the entry point's module path).
        distribution: name of the distribution declaring the entry point; ``None`` for a plugin
            registered at run time with ``get_plugin_manager().register``.
        version: version of that distribution.
    """

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None

    @property
    def builtin(self) -> bool:
        """Whether the plugin ships with art-bmtad itself."""
        return self.distribution is not None and _normalise(self.distribution) == PROJECT_DISTRIBUTION

    def __str__(self) -> str:
        if self.distribution is None:
            return f"plugin {self.name!r}"
        return f"plugin {self.name!r} ({self.distribution} {self.version})"


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _source(entry_point: metadata.EntryPoint) -> PluginSource:
    dist = entry_point.dist
    return PluginSource(entry_point.name, entry_point.value, dist.name, dist.version)


def _entry_points(autoload: bool) -> list[metadata.EntryPoint]:
    """Built-in entry points first (so their names win), then the third-party ones if ``autoload``."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    builtin = [ep for ep in found if _source(ep).builtin]
    third_party = [ep for ep in found if not _source(ep).builtin]
    return builtin + (third_party if autoload else [])


def _register(manager: pluggy.PluginManager, entry_point: metadata.EntryPoint, source: PluginSource) -> bool:
    try:
        manager.register(entry_point.load(), name=source.name)
    except BaseException as err:  # noqa: BLE001 - a broken plugin (even sys.exit()) must not take the host down
        warnings.warn(f"art-bmtad: skipping {source}: {type(err).__name__}: {err}", PluginWarning, stacklevel=3)
        return False
    return True


def load_plugins(manager: pluggy.PluginManager) -> dict[str, PluginSource]:
    """Register every ``art_bmtad`` entry point's module with ``manager``.

    Third-party entry points are skipped when :data:`DISABLE_AUTOLOAD_ENV` is set. A plugin that
    fails to import or to register, whatever it raises (``SystemExit`` and ``KeyboardInterrupt``
    included), produces a :class:`PluginWarning` naming it and its distribution; the others still load.

    Args:
        manager: the plugin manager, with the hook specifications already added.

    Returns:
        The source of each plugin that was registered, by plugin name.
    """
    autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    sources = {}
    for entry_point in _entry_points(autoload):
        source = _source(entry_point)
        if _register(manager, entry_point, source):
            sources[source.name] = source
    return sources
