"""``art-bmtad plugins``: the loaded plugins, where each comes from and what it registers."""
from __future__ import annotations

import argparse

from art_bmtad.commands import add_command
from art_bmtad.discovery import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP
from art_bmtad.registry import KINDS, PluginInfo, list_plugins

DESCRIPTION = f"""\
List the plugins that art-bmtad has loaded: each entry point in the {ENTRY_POINT_GROUP!r} group,
the distribution and version it comes from, and the defences, models and datasets it registers
(the names that create_defence, create_model and create_dataset accept). Built-in plugins ship
with art-bmtad; set {DISABLE_AUTOLOAD_ENV}=1 to load only those. A plugin that fails to
load, or registers a name that is already taken, is reported as a warning."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "plugins",
        help="list plugins, their distributions and what they register",
        description=DESCRIPTION,
    )
    return parser


def format_plugin(plugin: PluginInfo) -> str:
    """Two or more lines: the plugin and its origin, then one indented line per kind it registers."""
    source = plugin.source
    origin = f"{source.distribution} {source.version}" if source.distribution else "registered at run time"
    builtin = ", built-in" if source.builtin else ""
    lines = [f"{source.name}: {source.module} ({origin}{builtin})"]
    lines += [f"  {kind}: {', '.join(names)}" for kind in KINDS if (names := plugin.registers[kind])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print every loaded plugin.

    Args:
        args: the parsed command line (no options of its own).

    Returns:
        0.
    """
    for plugin in list_plugins():
        print(format_plugin(plugin))
    return 0
