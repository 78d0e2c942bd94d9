"""Progress bars for the whole process, ART's included: off with ``--quiet``, and never drawn when stderr is not a
terminal (logs then get the one line per epoch or per attack that the trainers and the evaluation log).

ART's trainers draw tqdm bars with no switch to turn them off, and tqdm reads ``TQDM_DISABLE`` only when it is
first imported; :func:`set_progress` therefore wraps ``tqdm.std.tqdm.__init__`` (every tqdm bar, ``tqdm.auto``'s
included) and also sets ``TQDM_DISABLE`` for processes started later (torchrun workers).
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable

_original_init: Callable[..., None] | None = None
_enabled = True


def set_progress(enabled: bool) -> None:
    """Show progress bars (on a terminal only) or none at all, for every tqdm bar in this process.

    Args:
        enabled: ``False`` silences every bar (``--quiet``); ``True`` shows them when stderr is a terminal.
    """
    global _enabled, _original_init
    import tqdm.std

    _enabled = enabled
    if enabled:
        os.environ.pop("TQDM_DISABLE", None)
    else:
        os.environ["TQDM_DISABLE"] = "1"
    if _original_init is None:
        _original_init = tqdm.std.tqdm.__init__
        tqdm.std.tqdm.__init__ = _patched_init(_original_init)


def restore_progress() -> None:
    """Undo :func:`set_progress`: tqdm behaves as it did before."""
    global _enabled, _original_init
    import tqdm.std

    if _original_init is not None:
        tqdm.std.tqdm.__init__ = _original_init
        _original_init = None
    _enabled = True
    os.environ.pop("TQDM_DISABLE", None)


def _patched_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if not _enabled:
            kwargs["disable"] = True
        elif not kwargs.get("disable"):
            kwargs["disable"] = None  # tqdm's "only on a terminal"
        original(self, *args, **kwargs)

    return __init__
