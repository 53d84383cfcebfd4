"""Counting failed attempts per client, in the cache, to slow down guessing.

Used by public endpoints that take a code or PIN: after `limit` failures within
`window` seconds a client is refused until the window has passed. The cache is shared
by every process in production (CACHE_URL=redis://…); locmem in the embedded mode.
"""

from __future__ import annotations

from django.core.cache import cache


def _key(scope: str, client: str) -> str:
    return f"throttle:{scope}:{client}"


def is_blocked(scope: str, client: str, *, limit: int) -> bool:
    return bool(client) and (cache.get(_key(scope, client)) or 0) >= limit


def record_failure(scope: str, client: str, *, window: int) -> int:
    """Count one more failure; the count lives `window` seconds from the first one."""
    if not client:
        return 0
    key = _key(scope, client)
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1
