from django.core.management import call_command

from helpdesk.models import Membership, Tenant
from helpdesk.tenancy import tenant_context
from tickets.management.commands import seed_demo
from tickets.models import Event, Ticket


def _tickets_per_tenant():
    counts = {}
    for tenant in Tenant.objects.order_by("slug"):
        with tenant_context(tenant):
            counts[tenant.slug] = (Ticket.objects.count(), Event.objects.count())
    return counts


def test_seed_demo_is_idempotent(db, monkeypatch, capsys):
    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 6)
    call_command("seed_demo")
    assert "acme-admin" in capsys.readouterr().out
    first = _tickets_per_tenant()
    call_command("seed_demo")
    assert _tickets_per_tenant() == first
    assert {slug: tickets for slug, (tickets, _) in first.items()} == {"acme": 6, "globex": 6}
    roles = set(Membership.objects.filter(tenant__slug="acme").values_list("role", flat=True))
    assert roles == {"admin", "manager", "dispatcher", "agent"}
