import pytest
from django.http import HttpRequest

from helpdesk.models import Membership
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, MembershipFactory, TenantFactory


@pytest.fixture(autouse=True, scope="session")
def _no_keys_from_earlier_runs():
    """Rate-limit windows, presence, intake flags and IMAP poll locks from an
    earlier run are cleared: they are keyed by ids, and a fresh test database reuses ids, so
    they would count against this run. Only the project's own keys go, in
    case REDIS_URL points at a database that holds more."""
    client = redis_client()
    for pattern in (
        "automail:*",
        "*ratelimit:*",
        "presence:*",
        "intake:scheduled:*",
        "*webform:*",
        "imap:poll:*",
    ):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


@pytest.fixture(autouse=True)
def _plain_http(settings, tmp_path):
    # The test client speaks plain HTTP; production keeps these on.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", name="Acme Support", ticket_prefix="ACME")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="globex", name="Globex", ticket_prefix="GLX")


@pytest.fixture
def in_tenant(tenant):
    """Run the test body as `tenant` (ORM scope and RLS setting)."""
    with tenant_context(tenant):
        yield tenant


def _member(tenant, role):
    return MembershipFactory(tenant=tenant, role=role).user


@pytest.fixture
def agent(tenant):
    return _member(tenant, Membership.Role.AGENT)


@pytest.fixture
def dispatcher(tenant):
    return _member(tenant, Membership.Role.DISPATCHER)


@pytest.fixture
def admin_user(tenant):
    return _member(tenant, Membership.Role.ADMIN)


@pytest.fixture
def outsider(other_tenant):
    """An admin of another tenant: must see nothing of ours."""
    return _member(other_tenant, Membership.Role.ADMIN)


@pytest.fixture
def login(client):
    def log_in(user):
        # Sign-in throttling (django-axes) needs the request that signs in.
        assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
        return client

    return log_in
