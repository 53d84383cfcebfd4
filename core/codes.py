"""Invitation, pass and referral codes: alphabet, normalisation, check symbol, generation.

Codes use Crockford's base32 alphabet (no I, L, O, U), are stored upper-case, and end
with a Luhn mod 32 check symbol computed over the whole code, prefix included. Every
single-character substitution changes the check, so a typo is caught before any
database lookup and most random guesses fail without touching the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE = len(ALPHABET)  # 32
INDEX = {ch: i for i, ch in enumerate(ALPHABET)}

MIN_WIDTH = 6
MAX_WIDTH = 20
MAX_PREFIX_LENGTH = 10
# A batch is refused when more than 1 in 10,000 random well-formed guesses would hit.
MIN_GUESS_ODDS = 10_000

# Input tolerance: people type O for 0 and I or L for 1; spaces and hyphens are layout.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", " ": None, "-": None, "\t": None})

# Luhn mod N doubles every second symbol and folds the result back into 0..31.
_DOUBLED = [(2 * v) // BASE + (2 * v) % BASE for v in range(BASE)]

# Byte tables for the bulk generator: a random byte keeps its low five bits (256 is a
# multiple of 32, so every symbol stays equally likely).
_BYTE_TO_INDEX = bytes(b % BASE for b in range(256))
_INDEX_TO_CHAR = bytes(ord(ALPHABET[b % BASE]) for b in range(256))
_DOUBLE_TABLE = bytes(_DOUBLED[b % BASE] for b in range(256))


class CodeError(ValueError):
    """A code or prefix that cannot be valid, with a message meant for a person."""


def normalise(raw: str) -> str:
    """Return `raw` as it is stored: trimmed, upper-case, no spaces or hyphens, O→0, I/L→1."""
    return (raw or "").strip().upper().translate(_READ_AS)


def normalise_prefix(raw: str) -> str:
    """Normalise an Invitation Prefix and check it against the alphabet (empty is allowed)."""
    prefix = normalise(raw)
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise CodeError(f"The prefix can have at most {MAX_PREFIX_LENGTH} characters.")
    bad = sorted({ch for ch in prefix if ch not in INDEX})
    if bad:
        raise CodeError(
            f"The prefix may only use {ALPHABET} (without I, L, O, U); "
            f"not allowed: {', '.join(bad)}."
        )
    return prefix


def _luhn_sum(symbols: str, *, double_rightmost: bool) -> int:
    total = 0
    double = double_rightmost
    for ch in reversed(symbols):
        v = INDEX[ch]
        total += _DOUBLED[v] if double else v
        double = not double
    return total


def check_symbol(payload: str) -> str:
    """The Luhn mod 32 check symbol for `payload` (already normalised, alphabet only)."""
    return ALPHABET[(BASE - _luhn_sum(payload, double_rightmost=True) % BASE) % BASE]


def has_valid_check(code: str) -> bool:
    """True when `code` (normalised) uses only the alphabet and its check symbol holds."""
    if len(code) < 2 or any(ch not in INDEX for ch in code):
        return False
    return _luhn_sum(code, double_rightmost=False) % BASE == 0


def make_code(prefix: str, payload: str) -> str:
    """Append the check symbol to prefix + payload."""
    body = prefix + payload
    return body + check_symbol(body)


def code_space(width: int) -> int:
    """How many distinct codes a width holds (its last symbol is the check)."""
    return BASE ** (width - 1)


@dataclass(frozen=True)
class GuessOdds:
    width: int
    existing: int
    quantity: int

    @property
    def total(self) -> int:
        return self.existing + self.quantity

    @property
    def one_in(self) -> int:
        """A random well-formed guess hits a code once in this many tries."""
        return code_space(self.width) // max(self.total, 1)

    @property
    def safe(self) -> bool:
        return self.one_in >= MIN_GUESS_ODDS

    @property
    def smallest_safe_width(self) -> int | None:
        return smallest_safe_width(self.total)


def smallest_safe_width(total_codes: int) -> int | None:
    """The smallest width at which `total_codes` codes stay unguessable, if any."""
    for width in range(MIN_WIDTH, MAX_WIDTH + 1):
        if code_space(width) // max(total_codes, 1) >= MIN_GUESS_ODDS:
            return width
    return None


def draw_codes(
    prefix: str,
    width: int,
    count: int,
    *,
    randbytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[str]:
    """Draw `count` random codes of `width` symbols after `prefix`, check symbol included.

    The same result as calling `make_code` per code, computed column by column with
    byte-string operations so that a million codes take a fraction of a second. The
    Luhn sum of each code is accumulated in 16-bit lanes of one big integer per column;
    a lane holds at most 19 × 31, so lanes never carry into each other.
    """
    if count <= 0:
        return []
    k = width - 1
    raw = randbytes(count * k)
    if len(raw) != count * k:
        raise ValueError("randbytes returned the wrong number of bytes")
    indexes = raw.translate(_BYTE_TO_INDEX)
    chars = raw.translate(_INDEX_TO_CHAR)

    # The prefix always sits at the same distance from the end: its share is a constant.
    prefix_sum = 0
    for distance, ch in enumerate(reversed(prefix), start=k):
        v = INDEX[ch]
        prefix_sum += _DOUBLED[v] if distance % 2 == 0 else v

    lanes = bytearray(2 * count)
    acc = 0
    for j in range(k):
        column = indexes[j::k]
        if (k - 1 - j) % 2 == 0:  # doubled positions count from the rightmost payload symbol
            column = column.translate(_DOUBLE_TABLE)
        lanes[1::2] = column
        acc += int.from_bytes(lanes, "big")
    low = acc.to_bytes(2 * count, "big")[1::2]  # lane sum mod 256 keeps it mod 32
    check_table = bytes(ord(ALPHABET[(BASE - (b + prefix_sum) % BASE) % BASE]) for b in range(256))
    checks = low.translate(check_table)

    out = bytearray(count * width)
    for j in range(k):
        out[j::width] = chars[j::k]
    out[k::width] = checks
    text = out.decode("ascii")
    return [prefix + text[i : i + width] for i in range(0, len(text), width)]
