"""Proxy headers are believed only from proxies the settings say are ours."""

import pytest
from django.test import RequestFactory

from helpdesk.proxies import client_ip


@pytest.fixture
def rf():
    return RequestFactory()


def test_without_trusted_proxies_the_headers_a_client_sends_change_nothing(client, settings):
    settings.TRUSTED_PROXY_HOPS = 0
    settings.SECURE_SSL_REDIRECT = True
    # A client claiming HTTPS is still redirected to HTTPS: the header is not believed.
    response = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_client_cannot_pick_its_own_address(rf, settings):
    settings.TRUSTED_PROXY_HOPS = 0
    request = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(request) == "203.0.113.9"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),
        # A client-written entry further left is ignored.
        (1, "10.9.9.9, 198.51.100.7", "198.51.100.7"),
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        # Fewer entries than our hops: not through our proxies; the peer.
        (2, "198.51.100.7", "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_behind_trusted_proxies_the_outermost_hop_names_the_client(
    rf, settings, hops, forwarded, expected
):
    settings.TRUSTED_PROXY_HOPS = hops
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
