"""Requests to addresses staff type in (webhook endpoints) reach the public internet only.

A webhook URL is entered in the staff pages; without a guard, anyone allowed to add one
could make the server POST into its own network (a database's HTTP port, a cloud's
metadata service at 169.254.169.254) and read the answer's status in the delivery log.
Two checks:

- at save, a URL naming a private, loopback, link-local or otherwise non-public address,
  or `localhost`, is refused (`validate_public_url`);
- at send, the address the socket actually connected to is checked before a byte is
  written (`public_only`), so a name that resolves to a private address, or starts to
  (DNS rebinding), is refused too.

`WEBHOOK_ALLOW_PRIVATE_NETWORKS` lifts both, for an installation whose receivers are on its
own network. Behind an outgoing proxy (`HTTPS_PROXY`), the proxy decides.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from urllib import request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class PrivateAddressRefused(OSError):
    """The connection reached a private address: nothing was sent."""


def _allowed() -> bool:
    return settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS


def is_private(ip: str) -> bool:
    """Whether an IP address is outside the public internet."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast or address.is_unspecified


def validate_public_url(url: str) -> None:
    """Refuse a URL whose host is written as a private address or as localhost."""
    if _allowed():
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError(
            "Webhooks go to public addresses: localhost is this server.", code="private"
        )
    try:
        private = is_private(host)
    except ValueError:
        return  # a name: checked when a delivery connects
    if private:
        raise ValidationError(
            f"Webhooks go to public addresses: {host} is a private network address.",
            code="private",
        )


def _guarded_connection(address, *args, **kwargs) -> socket.socket:
    sock = socket.create_connection(address, *args, **kwargs)
    peer = sock.getpeername()[0]
    if not _allowed() and is_private(peer):
        sock.close()
        raise PrivateAddressRefused(
            f"{address[0]} is at {peer}, a private network address: webhooks go to public "
            "addresses only"
        )
    return sock


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


def _proxied(req: request.Request) -> bool:
    return req.has_proxy() or bool(getattr(req, "_tunnel_host", None))


class _HTTPHandler(request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(http.client.HTTPConnection if _proxied(req) else _HTTPConnection, req)


class _HTTPSHandler(request.HTTPSHandler):
    def https_open(self, req):
        connection = http.client.HTTPSConnection if _proxied(req) else _HTTPSConnection
        options = {"context": self._context}
        if hasattr(self, "_check_hostname"):  # Python 3.11; gone in 3.12
            options["check_hostname"] = self._check_hostname
        return self.do_open(connection, req, **options)


class _NoRedirects(request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: urllib would resend the POST as a body-less
    GET elsewhere (perhaps inside our network) and call that delivered."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Follows no redirect; used for addresses set in settings (an SMS provider).
no_redirects = request.build_opener(_NoRedirects)
# Follows no redirect and connects to public addresses only: for staff-entered addresses.
public_only = request.build_opener(_NoRedirects, _HTTPHandler, _HTTPSHandler)
