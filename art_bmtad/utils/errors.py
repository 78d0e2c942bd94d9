"""The error a user's mistake raises: the CLI prints its message without a traceback."""
from __future__ import annotations


class ConfigError(ValueError):
    """A recipe or option that cannot run: the message names the key, the value and what is allowed."""
