import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import services
from tickets.models import Message


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


@pytest.fixture
def emailed_ticket(tenant, agent):
    """A ticket that came in by mail from pat (with a CC), with an agent's
    reply and an internal note carrying a file."""
    with tenant_context(tenant):
        ticket = TicketFactory(
            requester=ContactFactory(email="pat@example.com", name="Pat Doe"),
            cc_emails=["boss@example.com"],
            subject="Printer on fire",
            body="It smokes.",
            assignee=agent,
        )
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.NOTE,
            body="SECRET-NOTE: customer is on the watch list",
            author_user=agent,
            attachments=[SimpleUploadedFile("internal.txt", b"internal", "text/plain")],
        )
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="Please unplug it.",
            author_user=agent,
            attachments=[SimpleUploadedFile("steps.txt", b"unplug", "text/plain")],
        )
        ticket.refresh_from_db()
    return ticket
