"""The registry asks the plugins' hooks for their names once, and again only after a plugin is (un)registered."""
from __future__ import annotations

import types
from typing import Iterator

import pytest

from art_bmtad import hookimpl
from art_bmtad.discovery import DISABLE_AUTOLOAD_ENV
from art_bmtad.registry import (
    create_dataset,
    get_plugin_manager,
    is_single_model,
    list_datasets,
    list_plugins,
    reset_plugin_manager,
)


@pytest.fixture(autouse=True)
def built_in_plugins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def counting_plugin(name: str, dataset: str, calls: list[str]) -> types.ModuleType:
    """A plugin registering one dataset (a factory returning its name) and counting its hook's calls."""
    def register_datasets(register):
        calls.append(name)
        register(dataset, lambda **options: dataset)

    module = types.ModuleType(name)
    module.art_bmtad_register_datasets = hookimpl(register_datasets)
    return module


def test_names_are_collected_once_until_a_plugin_comes_or_goes() -> None:
    calls: list[str] = []
    first = counting_plugin("first", "first-data", calls)
    get_plugin_manager().register(first, name="first")
    for _ in range(3):
        assert "first-data" in list_datasets()
        assert create_dataset("first-data") == "first-data"
        assert not is_single_model("first-data")
    assert calls == ["first"]

    second = counting_plugin("second", "second-data", calls)
    get_plugin_manager().register(second, name="second")
    assert {"first-data", "second-data"} <= set(list_datasets())
    assert calls == ["first", "first", "second"]

    get_plugin_manager().unregister(first)
    assert "first-data" not in list_datasets() and "second-data" in list_datasets()
    assert calls == ["first", "first", "second", "second"]
    held = {plugin.source.name: plugin.registers["datasets"] for plugin in list_plugins()}
    assert held["second"] == ["second-data"] and "first" not in held

    reset_plugin_manager()
    assert "second-data" not in list_datasets()  # a fresh manager: only what is installed
