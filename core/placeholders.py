"""Placeholders in {braces} in the texts staff write (emails, SMS): which ones are unknown."""

from __future__ import annotations

import string
from collections.abc import Collection, Iterable


def unknown(text: str, known: Collection[str]) -> list[str]:
    """The {names} in `text` that are not in `known` (or carry a format spec or conversion),
    each as written (`first_name:>10`: naming a known name alone would read as a
    contradiction); raises ValueError on a brace that is not closed."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text or ""):
        if name is None:
            continue
        if name not in known or spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            names.append(written or "{}")
    return names


def braced(names: Iterable[str]) -> str:
    """`{a}, {b}`: each name once, in the order given."""
    return ", ".join("{" + n + "}" for n in dict.fromkeys(names))
