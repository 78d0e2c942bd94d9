"""Reading the small JSON documents art-bmtad writes (checkpoint descriptions, benchmark results), checked."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_document(path: Path, expected_format: str, what: str, missing: str) -> dict[str, Any]:
    """The JSON object in ``path`` whose ``format`` field is ``expected_format``.

    Args:
        path: the file.
        expected_format: the ``format`` value that marks the document as one of ours.
        what: the kind of document, for messages (e.g. ``"art-bmtad benchmark result"``).
        missing: the message when the file does not exist.

    Raises:
        FileNotFoundError: ``missing``.
        ValueError: the file is not valid JSON, or not a ``what`` (names the file and the expected format).
    """
    if not path.is_file():
        raise FileNotFoundError(missing)
    document = read_json_object(path)
    if document.get("format") != expected_format:
        raise ValueError(f"{path} is not an {what} (format {expected_format!r})")
    return document


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object (a mapping) in ``path``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not UTF-8, not valid JSON, or not an object (names the file).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return document
