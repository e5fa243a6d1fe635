import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from dispatch.demo import DEMO_TICKETS
from helpdesk.models import Membership, Tenant
from helpdesk.tenancy import tenant_context
from sla.demo import TICKETS as SLA_DEMO_TICKETS
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
    # Acme also gets SLA's demo tickets, one per SLA state (sla/demo.py), and
    # dispatch's demo data opens and routes a few of its own (dispatch/demo.py).
    routed = len(DEMO_TICKETS)
    assert {slug: tickets for slug, (tickets, _) in first.items()} == {
        "acme": 6 + len(SLA_DEMO_TICKETS) + routed,
        "globex": 6,
    }
    roles = set(Membership.objects.filter(tenant__slug="acme").values_list("role", flat=True))
    assert roles == {"admin", "manager", "dispatcher", "agent"}


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_demo_logins():
    """The logins and the password the README's "Two commands" section lists."""
    text = README.read_text()
    section = text[text.index("## Two commands") :]
    section = section[: section.index("\n## ", 1)]
    password = re.search(r"password is `([^`]+)`", section)[1]
    logins = []
    for row in section.splitlines():
        if row.startswith("| `"):
            logins += re.findall(r"`([^`]+)`", row.split("|")[1])
    return logins, password


def test_every_login_the_readme_lists_can_sign_in_after_seeding(db, client, monkeypatch):
    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 1)
    call_command("seed_demo")
    logins, password = _readme_demo_logins()
    assert "both-agent" in logins and len(logins) == 9
    for username in logins:
        response = client.post(reverse("login"), {"username": username, "password": password})
        assert response.status_code == 302, f"{username} cannot sign in with {password!r}"
        assert client.session["_auth_user_id"] == str(
            get_user_model().objects.get(username=username).pk
        )
        client.logout()


def test_seeding_again_repairs_an_empty_password_and_keeps_a_changed_one(db, monkeypatch):
    monkeypatch.setattr(seed_demo, "TICKETS_PER_TENANT", 1)
    call_command("seed_demo")
    User = get_user_model()
    # What the seed used to leave: an empty password, which matches nothing.
    User.objects.filter(username="both-agent").update(password="")
    changed = User.objects.get(username="acme-agent")
    changed.set_password("a-password-of-my-own")
    changed.save()
    call_command("seed_demo")
    assert User.objects.get(username="both-agent").check_password(seed_demo.DEMO_PASSWORD)
    assert User.objects.get(username="acme-agent").check_password("a-password-of-my-own")
