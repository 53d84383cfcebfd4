from django.test import RequestFactory

from core.throttle import client_address, is_blocked, record_failure


def _request(remote: str, forwarded: str = ""):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_proxies_the_peer_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_behind_one_proxy_the_address_it_saw_counts_not_what_the_client_wrote(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = _request("10.0.0.2", "6.6.6.6, 198.51.100.7")  # 6.6.6.6 was written by the client
    assert client_address(request) == "198.51.100.7"


def test_ipv6_clients_are_counted_by_their_64(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(_request("2001:db8:1:2::99")) == "2001:db8:1:2::/64"


def test_failures_block_a_client_until_the_window_passes():
    for _ in range(3):
        record_failure("scope", "198.51.100.7", window=60)
    assert is_blocked("scope", "198.51.100.7", limit=3)
    assert not is_blocked("scope", "198.51.100.8", limit=3)
