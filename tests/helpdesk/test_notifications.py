"""The bell, the list and each member's choices, as a member sees them."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import AuditEntry, Membership, Notification, NotificationPreference
from helpdesk.notifications import notification_create, notifications_unread_count
from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory


def _notify(tenant, user, n, **kwargs):
    with tenant_context(tenant):
        for i in range(n):
            notification_create(
                user_id=user.pk, text=f"Ticket {i} is yours", url=f"/acme/tickets/{i}/",
                source_key=f"test:{i}", **kwargs,
            )  # fmt: skip


def test_the_bell_shows_the_unread_count_and_mark_all_read_clears_it(tenant, agent, login):
    client = login(agent)
    bell = reverse("notification_bell", args=[tenant.slug])
    assert "unread" not in client.get(bell).content.decode()
    _notify(tenant, agent, 4)
    text = client.get(bell).content.decode()
    assert "Notifications, 4 unread" in text
    response = client.post(reverse("notifications_read", args=[tenant.slug]), follow=True)
    assert "Marked 4 notifications read." in response.content.decode()
    assert "unread" not in client.get(bell).content.decode()


def test_the_bell_counts_at_most_99(tenant, agent, in_tenant):
    _notify(tenant, agent, 101)
    assert notifications_unread_count(user=agent) == 100


def test_every_page_polls_the_bell_without_counting_itself(tenant, agent, login):
    page = login(agent).get(reverse("notifications", args=[tenant.slug])).content.decode()
    assert f'hx-get="/{tenant.slug}/notifications/bell/"' in page
    assert 'hx-trigger="load, every 30s"' in page


def test_the_list_pages_by_keyset_newest_first(tenant, agent, login):
    _notify(tenant, agent, 55)
    with tenant_context(tenant):
        # Two rows at the very same moment still page apart, in id order.
        same = timezone.now() - timedelta(days=1)
        Notification.objects.filter(source_key__in=["test:0", "test:1"]).update(created_at=same)
    client = login(agent)
    url = reverse("notifications", args=[tenant.slug])
    first = client.get(url)
    shown = [n.text for n in first.context["notifications"]]
    assert len(shown) == 50 and shown[0] == "Ticket 54 is yours"
    second = client.get(url, {"after": first.context["next_cursor"]})
    rest = [n.text for n in second.context["notifications"]]
    assert rest == [f"Ticket {i} is yours" for i in (4, 3, 2, 1, 0)]
    assert second.context["next_cursor"] is None
    # A cursor that is not one is the first page, not an error.
    for bad in ("x-1", "99999999999999999-1", ""):
        assert len(client.get(url, {"after": bad}).context["notifications"]) == 50


def test_each_entry_links_to_its_ticket_and_is_read_on_the_way(tenant, agent, login):
    _notify(tenant, agent, 1)
    client = login(agent)
    page = client.get(reverse("notifications", args=[tenant.slug]))
    note = page.context["notifications"][0]
    opened = reverse("notification_open", args=[tenant.slug, note.pk])
    assert opened in page.content.decode()
    response = client.get(opened)
    assert response.status_code == 302 and response["Location"] == "/acme/tickets/0/"
    with tenant_context(tenant):
        assert Notification.objects.get(pk=note.pk).read_at is not None


def test_someone_elses_notification_does_not_open(tenant, agent, admin_user, login):
    _notify(tenant, admin_user, 1)
    with tenant_context(tenant):
        theirs = Notification.objects.get()
    response = login(agent).get(reverse("notification_open", args=[tenant.slug, theirs.pk]))
    assert response["Location"] == reverse("notifications", args=[tenant.slug])
    with tenant_context(tenant):
        assert Notification.objects.get().read_at is None


def test_a_member_chooses_per_kind_and_channel_and_it_is_recorded(tenant, agent, login):
    client = login(agent)
    url = reverse("notification_preferences", args=[tenant.slug])
    page = client.get(url).content.decode()
    for label in (
        "Assigned to me",
        "Customer replied on my ticket",
        "Mentioned in a note",
        "New urgent ticket in my group",
    ):
        assert label in page
    assert "no email address" in page
    # Everything in the app, nothing by mail, mentions not at all.
    response = client.post(
        url,
        {
            "tickets.assigned:in_app": "on",
            "tickets.customer_replied:in_app": "on",
            "tickets.urgent_in_group:in_app": "on",
        },
        follow=True,
    )
    assert "Your choices are saved." in response.content.decode()
    with tenant_context(tenant):
        # The tickets app's kinds (higher apps, such as SLA, add their own).
        saved = {
            p.kind: (p.in_app, p.mail)
            for p in NotificationPreference.objects.filter(user=agent, kind__startswith="tickets.")
        }
        entry = AuditEntry.objects.get(action="notifications.preferences")
    assert saved == {
        "tickets.assigned": (True, False),
        "tickets.mentioned": (False, False),
        "tickets.urgent_in_group": (True, False),
    }
    assert entry.actor == agent and entry.detail["tickets.mentioned"]["after"] == [False, False]
    with tenant_context(tenant):
        created = notification_create(
            kind="tickets.mentioned", user_id=agent.pk, text="x", url="/", source_key="m"
        )
    assert created is None


def test_an_unknown_kind_is_refused(tenant, agent, in_tenant):
    with pytest.raises(ValueError, match="not registered"):
        notification_create(kind="nope", user_id=agent.pk, text="x", url="/", source_key="k")


def test_mention_completion_lists_this_tenants_active_members_only(
    tenant, other_tenant, agent, login
):
    pat = MembershipFactory(
        tenant=tenant, user__username="pat", user__first_name="Pat", user__last_name="Lee"
    ).user
    MembershipFactory(tenant=tenant, user__username="patsy", user__is_active=False)
    MembershipFactory(tenant=other_tenant, user__username="patrick", user__first_name="Patrick")
    # The agent's generated name could start with "Pa" too: fixed here.
    agent.first_name, agent.last_name = "Ann", "Other"
    agent.save()
    url = reverse("member_mentions", args=[tenant.slug])
    client = login(agent)
    members = json.loads(client.get(url, {"q": "pa"}).content)["members"]
    assert members == [{"username": "pat", "name": "Pat Lee"}]
    assert json.loads(client.get(url, {"q": "@le"}).content)["members"][0]["username"] == "pat"
    assert json.loads(client.get(url, {"q": "zz"}).content)["members"] == []
    assert pat.pk and Membership.objects.filter(tenant=tenant).count() == 3


def test_a_kind_another_app_registers_is_offered_and_honoured(
    tenant, agent, login, dummy_extensions
):
    agent.email = "agent@acme.example"
    agent.save()
    page = login(agent).get(reverse("notification_preferences", args=[tenant.slug]))
    assert "Dummy deadline missed" in page.content.decode()
    with tenant_context(tenant):
        created = notification_create(
            kind="testext.breach", user_id=agent.pk, text="ACME-1 missed", url="/", source_key="b"
        )
    # Its defaults: by mail only.
    assert (created.in_app, created.mail_pending) == (False, True)
    assert (
        "unread"
        not in login(agent).get(reverse("notification_bell", args=[tenant.slug])).content.decode()
    )
