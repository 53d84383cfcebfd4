"""Placeholders in {braces} in the texts staff write (emails, SMS): which ones are unknown."""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable


def unknown(text: str, known: Collection[str]) -> list[str]:
    """The {names} in `text` that are not in `known` (or carry a format spec or conversion);
    raises ValueError on a brace that is not closed."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text or ""):
        if name is None:
            continue
        if name not in known or spec or conversion:
            names.append(name or "{}")
    return names


def braced(names: Iterable[str]) -> str:
    """`{a}, {b}`: each name once, in the order given."""
    return ", ".join("{" + n + "}" for n in dict.fromkeys(names))
