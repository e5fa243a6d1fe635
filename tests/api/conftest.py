"""Shared by the API tests: keys, a client that calls as a key, URLs."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from helpdesk import services as helpdesk_services
from helpdesk.models import ApiKey
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    # Throttle counters live in the cache (Redis): each test starts from zero.
    cache.clear()
    yield
    cache.clear()


def make_key(tenant, scope=ApiKey.Scope.WRITE, actor=None):
    with tenant_context(tenant):
        return helpdesk_services.api_key_create(actor=actor, name="Phone system", scope=scope)


@pytest.fixture
def write_key(tenant, admin_user):
    return make_key(tenant, actor=admin_user)[1]


@pytest.fixture
def read_key(tenant, admin_user):
    return make_key(tenant, scope=ApiKey.Scope.READ, actor=admin_user)[1]


@pytest.fixture
def api(client):
    """Call the API as a key: api(key).get(path) / .post(path, data) / .patch(path, data)."""

    class Caller:
        def __init__(self, key):
            self.headers = {"Authorization": f"Bearer {key}"} if key else {}

        def get(self, path, **params):
            return client.get(path, params, headers=self.headers)

        def post(self, path, data):
            return client.post(path, data, content_type="application/json", headers=self.headers)

        def patch(self, path, data):
            return client.patch(path, data, content_type="application/json", headers=self.headers)

    return Caller


def tickets_url(slug="acme", number=None, messages=False):
    url = f"/api/v1/{slug}/tickets/"
    if number is not None:
        url += f"{number}/"
    if messages:
        url += "messages/"
    return url


def make_tickets(tenant, count, **kwargs):
    with tenant_context(tenant):
        return [TicketFactory(**kwargs) for _ in range(count)]


@pytest.fixture(scope="session")
def _live_server_plain_http():
    # As in tests/e2e/conftest.py: the live server builds its middleware once,
    # when it starts (for whichever folder asks first), so the per-test
    # override in tests/conftest.py comes too late for SecurityMiddleware.
    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


@pytest.fixture(scope="session")
def live_server(_live_server_plain_http, live_server):
    return live_server
