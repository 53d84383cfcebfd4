"""Requests to addresses staff type in (webhook endpoints) reach the public internet only.

A webhook URL is entered in the staff pages; without a guard, anyone allowed to add one
could make the server POST into its own network (a database's HTTP port, a cloud's
metadata service at 169.254.169.254) and read the answer's status in the delivery log.
The checks:

- at save, a URL naming a private, loopback, link-local or otherwise non-public address,
  or `localhost`, is refused (`validate_public_url`);
- at send, the host's name is resolved and the connection is made only to the public
  addresses it gave (`public_only`), so a name that resolves to a private address, or
  starts to (DNS rebinding), is refused too, before any connection is tried: an attempt
  cannot tell an open port inside the network from a closed one, and its error names the
  host, never the private address the name resolved to;
- only http and https are spoken: urllib's default opener would also fetch ftp:// (which
  Django's URLField accepts), file:// and data: addresses, without either check.

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


# IPv6 ranges whose last 32 bits are an IPv4 address the packet ends up at: NAT64's
# well-known prefix (a cloud's IPv6-only subnet reaches its IPv4 network through it) and
# the deprecated IPv4-compatible form.
_EMBEDDING_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))

# The schemes a webhook is posted over.
SCHEMES = ("http", "https")


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global or address.is_multicast or address.is_unspecified


def is_private(ip: str) -> bool:
    """Whether an IP address is outside the public internet."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if address.version == 6:
        if address.ipv4_mapped:
            address = address.ipv4_mapped
        elif address.sixtofour:
            return _not_public(address) or _not_public(address.sixtofour)
        elif any(address in network for network in _EMBEDDING_IPV4) and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return _not_public(address) or _not_public(embedded)
    return _not_public(address)


def validate_public_url(url: str) -> None:
    """Refuse a URL that is not http(s), or whose host is written as a private address
    or as localhost."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValidationError(
            "A webhook endpoint is an http:// or https:// address.", code="scheme"
        )
    if _allowed():
        return
    host = (parts.hostname or "").rstrip(".").lower()
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


def _guarded_connection(
    address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *args, **kwargs
) -> socket.socket:
    """socket.create_connection to the host's public addresses only.

    The name is resolved here and the socket connects to the very address that was
    checked (no second lookup a rebinding name could answer differently). A private one
    is never connected to: refusing only after the connection succeeded would tell the
    log's reader which ports are open inside the network.
    """
    if _allowed():
        return socket.create_connection(address, timeout, source_address, *args, **kwargs)
    host, port = address[0], address[1]
    found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    public = [info for info in found if not is_private(info[4][0])]
    if not public:
        raise PrivateAddressRefused(
            f"{host} leads to a private network address: webhooks go to public addresses only"
        )
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in public:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
        else:
            return sock
    raise last_error or OSError(f"Could not connect to {host}")


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


def _http_only_opener(*handlers) -> request.OpenerDirector:
    """build_opener without its ftp, file and data handlers: any other scheme is an
    "unknown url type" error, nothing fetched."""
    opener = request.OpenerDirector()
    for handler in (
        request.ProxyHandler(),
        request.UnknownHandler(),
        request.HTTPDefaultErrorHandler(),
        request.HTTPErrorProcessor(),
        *handlers,
    ):
        opener.add_handler(handler)
    return opener


# Follows no redirect; used for addresses set in settings (an SMS provider).
no_redirects = request.build_opener(_NoRedirects)
# Follows no redirect, speaks http(s) only and connects to public addresses only: for
# staff-entered addresses.
public_only = _http_only_opener(_NoRedirects(), _HTTPHandler(), _HTTPSHandler())
