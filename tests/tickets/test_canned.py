"""Canned responses: placeholders are substituted plainly, and only the
known ones; admins are told about the others when they save."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import services
from tickets.models import CannedResponse


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(requester=ContactFactory(tenant=tenant, name="Pat {agent_name} Lee"))


@pytest.mark.parametrize(
    "body",
    [
        "Hi {requester_name.__class__}",
        "Hi {requester_name:>30000000}",
        "Hi {requester_name!r}",
        "Hi {0}",
        "{",
        "}{",
        "{{requester_name}}",
    ],
)
def test_text_that_is_not_a_placeholder_is_inserted_as_written(tenant, ticket, agent, login, body):
    with tenant_context(tenant):
        canned = CannedResponse.objects.create(tenant=tenant, title="Odd", body=body)
    response = login(agent).get(
        reverse("tickets:canned_insert", args=[tenant.slug, ticket.number, canned.pk])
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert len(text) < 100
    if body == "{{requester_name}}":
        assert text == "{Pat {agent_name} Lee}"
    else:
        assert text == body


def test_a_value_is_never_read_as_a_placeholder_itself(tenant, ticket, agent):
    with tenant_context(tenant):
        canned = CannedResponse.objects.create(
            tenant=tenant, title="Hello", body="Dear {requester_name}, from {agent_name}"
        )
        text = services.canned_response_render(canned=canned, ticket=ticket, agent=agent)
    assert text == f"Dear Pat {{agent_name}} Lee, from {agent.get_full_name()}"


def test_unknown_placeholders_are_refused_when_saving(tenant, admin_user):
    with tenant_context(tenant):
        with pytest.raises(ValidationError) as refused:
            services.canned_response_save(
                actor=admin_user, title="Typo", body="Hi {requester_nmae}, {ticket_number}"
            )
        (message,) = refused.value.message_dict["body"]
        assert message.startswith("Unknown placeholder {requester_nmae}: use {requester_name}")
        saved = services.canned_response_save(
            actor=admin_user, title="Fine", body="Hi {requester_name}, re {ticket_number}"
        )
    assert saved.pk
