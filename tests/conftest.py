import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.http import HttpRequest

from helpdesk import db as tenant_db
from helpdesk import ratelimit
from helpdesk.celery import app as celery_app
from helpdesk.models import Membership
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, MembershipFactory, TenantFactory
from tests.outage import RedisServer, point_celery_at


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The test database is made, migrated and dropped by the role that owns
    the tables (MIGRATE_DATABASE_URL), as in production..."""
    if django_settings.MIGRATE_DATABASE is not None:
        tenant_db.connect_as_owner(connection)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """...and the tests run as the app's role, which owns nothing: they meet
    the same wall as the app. (Tests that commit are emptied by `flush`, which
    connects as the owner.)"""
    with django_db_blocker.unblock():
        tenant_db.connect_as_app(connection)
    yield
    with django_db_blocker.unblock():
        if django_settings.MIGRATE_DATABASE is not None:
            tenant_db.connect_as_owner(connection)


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
def _no_redis_outage_carried_over():
    # A test that made Redis time out must not leave the next one pausing it.
    ratelimit.outage.reset()
    yield
    ratelimit.outage.reset()


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


@pytest.fixture
def own_redis(settings, tmp_path):
    """Every Redis client of the app pointed at a redis-server of this test's
    own (started): `own_redis.stop()` and `.start()` take it away and back."""
    server = RedisServer(tmp_path)
    server.start()
    broker, redis_url, caches = celery_app.conf.broker_url, settings.REDIS_URL, settings.CACHES
    settings.REDIS_URL = server.url
    settings.CACHES = {"default": {**caches["default"], "LOCATION": server.url}}
    point_celery_at(server.url)
    ratelimit.outage.reset()
    try:
        yield server
    finally:
        # Back to the suite's Redis before other fixtures' teardown uses it.
        settings.REDIS_URL, settings.CACHES = redis_url, caches
        point_celery_at(broker)
        server.stop()
        ratelimit.outage.reset()


@pytest.fixture
def dummy_extensions(settings):
    """A test-only app's dummy panel, column, badge, event kind, portal
    block, systems and settings sections, registered for this test only
    (tests/extension_dummies.py); its templates under tests/templates/."""
    from tests import extension_dummies

    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], extension_dummies.TEMPLATES]}]
    with extension_dummies.registered():
        yield extension_dummies
