"""PINs: random digits, stored only as a keyed hash and compared in constant time.

A slow password hash adds nothing for a 4–8 digit PIN (anyone holding the hashes tries
every PIN either way) and would take hours for a printed batch; what protects a PIN is
the key, kept outside the database (PIN_HASH_KEY), and the lockout after failed tries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

PIN_LENGTH = 6


def new_pin(length: int = PIN_LENGTH) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _key() -> bytes:
    return settings.PIN_HASH_KEY.encode()


def pin_hash(pin: str) -> str:
    return hmac.new(_key(), pin.strip().encode(), hashlib.sha256).hexdigest()


def pin_hashes(pins: list[str]) -> list[str]:
    """Hash many PINs: one key object, copied per PIN (a printed batch has 100,000)."""
    base = hmac.new(_key(), digestmod=hashlib.sha256)
    out = []
    for pin in pins:
        h = base.copy()
        h.update(pin.encode())
        out.append(h.hexdigest())
    return out


def pin_matches(pin: str, stored_hash: str) -> bool:
    return bool(stored_hash) and hmac.compare_digest(pin_hash(pin), stored_hash)
