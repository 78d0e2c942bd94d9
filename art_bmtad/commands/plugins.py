"""``art-bmtad plugins``: the loaded plugins, where each comes from and what it registers."""
from __future__ import annotations

import argparse

from art_bmtad.commands import add_command
from art_bmtad.discovery import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP
from art_bmtad.registry import KINDS, ZOOS, PluginInfo, get_zoo, list_plugins

DESCRIPTION = f"""\
List the plugins that art-bmtad has loaded: each entry point in the {ENTRY_POINT_GROUP!r} group,
the distribution and version it comes from, and the defences, models, datasets and model zoos it
registers (the names that create_defence, create_model and create_dataset accept; a zoo's models are
<zoo>/<model>, listed by `art-bmtad models --zoo ZOO`, counted here with --count, which imports each zoo's
library). Built-in plugins ship
with art-bmtad; set {DISABLE_AUTOLOAD_ENV}=1 to load only those. A plugin that fails to
load, or registers a name that is already taken, is reported as a warning."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        subparsers, run,
        "plugins",
        help="list plugins, their distributions and what they register",
        description=DESCRIPTION,
    )
    parser.add_argument("--count", action="store_true",
                        help="count each zoo's models (imports the zoos' libraries, e.g. timm and torch)")
    return parser


def format_plugin(plugin: PluginInfo, count: bool = False) -> str:
    """Two or more lines: the plugin and its origin, then one indented line per kind it registers (zoos by name,
    or with ``count`` by name and number of models)."""
    source = plugin.source
    origin = f"{source.distribution} {source.version}" if source.distribution else "registered at run time"
    builtin = ", built-in" if source.builtin else ""
    lines = [f"{source.name}: {source.module} ({origin}{builtin})"]
    lines += [f"  {kind}: {', '.join(names)}" for kind in KINDS if (names := plugin.registers[kind])]
    if plugin.registers[ZOOS]:
        zoos = [_zoo_summary(name) if count else name for name in plugin.registers[ZOOS]]
        lines.append(f"  {ZOOS}: {', '.join(zoos)}")
    return "\n".join(lines)


def _zoo_summary(name: str) -> str:
    """``"timm (1371 models)"``: a zoo by its size, not its thousands of names (listing imports its library)."""
    try:
        count = len(get_zoo(name).list_models())
    except Exception as err:  # noqa: BLE001 - a zoo that cannot list itself is reported, not fatal
        return f"{name} (cannot list its models: {type(err).__name__}: {err})"
    return f"{name} ({count} models)"


def run(args: argparse.Namespace) -> int:
    """Print every loaded plugin.

    Args:
        args: the parsed command line (``--count``).

    Returns:
        0.
    """
    for plugin in list_plugins():
        print(format_plugin(plugin, count=args.count))
    return 0
