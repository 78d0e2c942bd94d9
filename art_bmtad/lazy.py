"""Lazy public names for packages (PEP 562), so that importing a package (and the CLI's ``--help``) loads no torch or
ART until a name that needs them is used."""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's module-level ``__getattr__``: imports a public name's module on first access and keeps the
    name in the package, so later accesses are plain attribute lookups.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
