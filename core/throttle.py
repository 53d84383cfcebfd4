"""Counting failed attempts per client, in the cache, to slow down guessing.

Used by public endpoints that take a code or PIN: after `limit` failures within
`window` seconds a client is refused until the window has passed. The cache is shared
by every process in production (CACHE_URL=redis://…); locmem in the embedded mode.
"""

from __future__ import annotations

import contextlib
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import ScopedRateThrottle


def _key(scope: str, client: str) -> str:
    return f"throttle:{scope}:{client}"


def is_blocked(scope: str, client: str, *, limit: int) -> bool:
    return bool(client) and (cache.get(_key(scope, client)) or 0) >= limit


def take_attempt(scope: str, client: str, *, window: int) -> int:
    """Count an attempt before it is made; give it back with `forgive` if it succeeds.

    Counting first means parallel attempts cannot all pass the check before any of
    them is counted: the count includes those in flight.
    """
    return record_failure(scope, client, window=window)


def forgive(scope: str, client: str) -> None:
    if not client:
        return
    with contextlib.suppress(ValueError):  # the window has passed meanwhile
        cache.decr(_key(scope, client))


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


def client_address(request: HttpRequest) -> str:
    """The client's address, as far as it can be trusted; IPv6 clients by their /64.

    Behind TRUSTED_PROXY_COUNT proxies, the address is the one the outermost of them saw,
    read from the right of X-Forwarded-For (what a client writes further left is not
    trusted). An IPv6 client holds a whole /64 and could rotate within it.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class CountingRateThrottle(ScopedRateThrottle):
    """DRF's scoped rate (a view's `throttle_scope`, per user or address), counted cheaply.

    DRF's own throttle keeps every request's time in one cache entry, read and written
    whole on each request: at a few hundred requests a second that list is thousands
    long. This one counts requests in fixed windows of the rate's period with one atomic
    `incr`, the same cost at any rate, and shared by every process through the cache.
    """

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = self.timer()
        key = f"{ident}:{int(now // self.duration)}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first request
            count = 1 if self.cache.add(key, 1, self.duration + 1) else self.cache.incr(key)
        self.seconds_left = self.duration - now % self.duration
        return count <= self.num_requests

    def wait(self) -> float:
        return self.seconds_left
