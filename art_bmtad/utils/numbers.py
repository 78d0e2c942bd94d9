"""Numbers as users write them on a command line or in a recipe: a fraction (``8/255``, ``0.03``) or a count
(``200``)."""
from __future__ import annotations

from fractions import Fraction


def parse_fraction(text: str) -> float:
    """``"8/255"``, ``"0.03"``, ``"1e-3"`` or ``"1"`` as a float.

    Raises:
        ValueError: not a number or a fraction; the message quotes the text.
    """
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a number or fraction: {text!r}") from None


def parse_count_or_fraction(text: str) -> int | float:
    """Digits alone as a count (``"200"`` -> ``200``), anything else as :func:`parse_fraction` reads it
    (``"0.1"``, ``"1/10"`` -> ``0.1``).

    Raises:
        ValueError: neither; the message quotes the text.
    """
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else parse_fraction(text)
