"""Webhook endpoints are typed in by staff: the server posts to public addresses only, at
save and at send (core/netguard.py), unless WEBHOOK_ALLOW_PRIVATE_NETWORKS says otherwise."""

import socket

import pytest
from django.core.exceptions import ValidationError

from core import webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from core.netguard import is_private, validate_public_url
from tests.core.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("ip", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # a cloud's metadata service
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),  # IPv4 inside IPv6
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_what_counts_as_a_private_address(ip, private):
    assert is_private(ip) is private


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("https://10.0.0.5/hook", "10.0.0.5"),
        ("http://[::1]/hook", "::1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://localhost:5432/", "localhost"),
        ("http://api.localhost/", "localhost"),
    ],
)
def test_a_private_address_is_refused_at_save_by_name(guarded, url, named):
    with pytest.raises(ValidationError, match=named.replace("[", r"\[")):
        validate_public_url(url)
    with pytest.raises(ValidationError) as excinfo:
        WebhookEndpoint(url=url).full_clean()
    assert "public addresses" in str(excinfo.value.message_dict["url"])


def test_public_addresses_and_names_are_accepted(guarded):
    for url in ("https://hooks.example.com/voucherdesk", "https://93.184.216.34/in"):
        WebhookEndpoint(url=url).full_clean()


def test_the_setting_lets_an_installation_post_inside_its_own_network(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    WebhookEndpoint(url="http://10.0.0.5/hook").full_clean()


def test_a_name_that_leads_to_a_private_address_is_refused_when_sending(guarded, receiver):
    """A name passes at save; the address the connection reaches is checked before a byte
    is written (this also stops a name that starts resolving elsewhere later)."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    endpoint = WebhookEndpoint.objects.create(url=url)  # saved before the guard, say
    [queued] = webhooks.webhook_event_send(endpoints=[endpoint], event="reward.earned", data={})

    webhooks.webhook_delivery_attempt(delivery_id=queued.pk)

    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get(pk=queued.pk)
    [attempt] = delivery.log.all()
    assert attempt.status_code is None
    assert "a private network address: webhooks go to public addresses only" in attempt.error
    assert delivery.status == "pending"  # retried: the setting may be changed meanwhile


def test_with_the_setting_the_same_delivery_arrives(settings, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    endpoint = WebhookEndpoint.objects.create(url=receiver.url.replace("127.0.0.1", "localhost"))
    [queued] = webhooks.webhook_event_send(endpoints=[endpoint], event="reward.earned", data={})

    webhooks.webhook_delivery_attempt(delivery_id=queued.pk)

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(pk=queued.pk).status == "delivered"


def test_staff_adding_a_private_endpoint_to_a_referral_program_are_told_why(guarded):
    from referrals.services import endpoint_add
    from tests.factories import ReferralProgramFactory

    program = ReferralProgramFactory()
    with pytest.raises(ValidationError) as excinfo:
        endpoint_add(actor=None, program=program, url="http://192.168.0.10/hook")
    assert "192.168.0.10 is a private network address" in str(excinfo.value)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "ip",
    [
        "64:ff9b::a00:5",  # NAT64 to 10.0.0.5
        "64:ff9b::a9fe:a9fe",  # NAT64 to the metadata service
        "2002:7f00:1::1",  # 6to4 from 127.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
    ],
)
def test_an_ipv6_address_carrying_a_private_ipv4_one_is_private(ip):
    assert is_private(ip) is True


def test_an_ipv6_address_carrying_a_public_ipv4_one_is_public():
    assert is_private("64:ff9b::5db8:d822") is False


@pytest.mark.parametrize("url", ["ftp://files.example.com/hook", "ftps://10.0.0.5/hook"])
def test_only_http_and_https_endpoints_are_saved(settings, url):
    for allowed in (False, True):
        settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = allowed
        with pytest.raises(ValidationError) as excinfo:
            WebhookEndpoint(url=url).full_clean()
        assert "http:// or https://" in str(excinfo.value.message_dict["url"])


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.setblocking(False)
    return sock


def _connected(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_an_ftp_endpoint_is_never_fetched(guarded, settings):
    """URLField accepts ftp://, and urllib's default opener fetches it with no guard: an
    FTP client would connect inside the network and log the first line it reads."""
    settings.WEBHOOK_TIMEOUT = 1
    listener = _listener()
    port = listener.getsockname()[1]
    try:
        endpoint = WebhookEndpoint.objects.create(url=f"ftp://localhost:{port}/hook")
        [queued] = webhooks.webhook_event_send(endpoints=[endpoint], event="reward.earned", data={})

        webhooks.webhook_delivery_attempt(delivery_id=queued.pk)

        assert not _connected(listener)
    finally:
        listener.close()
    [attempt] = WebhookDelivery.objects.get(pk=queued.pk).log.all()
    assert attempt.status_code is None and "unknown url type" in attempt.error


def test_a_closed_private_port_looks_the_same_as_an_open_one(guarded, receiver):
    """Nothing is connected to inside the network: the log cannot be read as a port scan,
    and it does not say which private address the name resolved to."""
    closed = _listener()
    closed_port = closed.getsockname()[1]
    closed.close()
    errors = []
    for url in (
        receiver.url.replace("127.0.0.1", "localhost"),
        f"http://localhost:{closed_port}/hooks",
    ):
        endpoint = WebhookEndpoint.objects.create(url=url)
        [queued] = webhooks.webhook_event_send(endpoints=[endpoint], event="reward.earned", data={})
        webhooks.webhook_delivery_attempt(delivery_id=queued.pk)
        [attempt] = WebhookDelivery.objects.get(pk=queued.pk).log.all()
        errors.append(attempt.error)

    assert errors[0] == errors[1]
    assert "localhost leads to a private network address" in errors[0]
    assert "127.0.0.1" not in errors[0] and "::1" not in errors[0]
    assert receiver.requests == []
