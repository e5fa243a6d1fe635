import pytest

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tickets import services


@pytest.fixture
def mailbox(tenant):
    """A webhook mailbox; its token (shown once when made) kept on `.token`."""
    with tenant_context(tenant):
        box, token = services.mailbox_create(name="Support", address="help@acme.example")
    box.token = token
    return box


@pytest.fixture
def eager():
    """Celery tasks run in the caller, as soon as they are published."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
