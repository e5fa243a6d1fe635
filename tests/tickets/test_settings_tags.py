"""Settings, Tags: rename and merge across tickets, one event on each."""

from django.urls import reverse

from helpdesk.models import AuditEntry
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets.models import Event, Ticket
from tickets.services import tags as tag_services


def test_renaming_into_an_existing_tag_merges_them_with_an_event_per_ticket(
    tenant, admin_user, login
):
    with tenant_context(tenant):
        both = TicketFactory(tags=["printer", "printers"])
        old_only = TicketFactory(tags=["printers", "urgent"])
        other = TicketFactory(tags=["billing"])
        closed = TicketFactory(tags=["printers"])
        Ticket.objects.filter(pk=closed.pk).update(status=Ticket.Status.CLOSED)
    client = login(admin_user)
    page = client.get(reverse("tickets:tags", args=[tenant.slug])).content.decode()
    assert "<code>printers</code>" in page
    client.post(
        reverse("tickets:tag_rename", args=[tenant.slug]), {"old": "printers", "new": "Printer"}
    )
    with tenant_context(tenant):
        for ticket in (both, old_only, other, closed):
            ticket.refresh_from_db()
        assert both.tags == ["printer"]
        assert old_only.tags == ["printer", "urgent"]
        assert other.tags == ["billing"] and closed.tags == ["printers"]
        events = Event.objects.filter(field="tags", actor_system="tags")
        assert sorted(e.ticket_id for e in events) == sorted([both.pk, old_only.pk])
        assert "merged the tag “printers” into “printer”" in events.first().reason
        entry = AuditEntry.objects.get(target_type="tag")
        assert (entry.before, entry.after) == ({"tag": "printers"}, {"tag": "printer"})
        assert dict(tag_services.tag_counts()) == {
            "printer": 2,
            "urgent": 1,
            "billing": 1,
            "printers": 1,
        }


def test_a_bad_new_name_changes_nothing(tenant, admin_user, login):
    with tenant_context(tenant):
        ticket = TicketFactory(tags=["printers"])
    response = login(admin_user).post(
        reverse("tickets:tag_rename", args=[tenant.slug]),
        {"old": "printers", "new": "two words"},
        follow=True,
    )
    assert "tags use letters" in response.content.decode()
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert ticket.tags == ["printers"]
