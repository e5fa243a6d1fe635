"""Every tenant view, seen by each kind of visitor: a member, a lower role,
another tenant's admin (404, never 403 or data) and an anonymous visitor."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from helpdesk.checks import url_entries
from helpdesk.models import Membership
from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import intake, services
from tickets.models import CannedResponse, Mailbox, Message


@pytest.fixture
def ticket(tenant, agent):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire")
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="See attached",
            author_user=agent,
            attachments=[SimpleUploadedFile("steps.txt", b"turn it off", "text/plain")],
        )
        ticket.refresh_from_db()
        return ticket


def _attachment_id(tenant, ticket):
    with tenant_context(tenant):
        return ticket.messages.get(kind=Message.Kind.REPLY).attachments.get().pk


def _canned_id(tenant):
    with tenant_context(tenant):
        canned, _ = CannedResponse.objects.get_or_create(
            tenant=tenant, title="Thanks", defaults={"body": "Thanks, {requester_name}!"}
        )
        return canned.pk


def _quarantined_id(tenant):
    with tenant_context(tenant):
        mailbox = (
            Mailbox.objects.first()
            or services.mailbox_create(name="Support", address="help@acme.example")[0]
        )
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=b"not a mail")
        return intake.inbound_process(inbound=inbound).pk


def _mailbox_id(tenant):
    with tenant_context(tenant):
        mailbox = (
            Mailbox.objects.first()
            or services.mailbox_create(name="Support", address="help@acme.example")[0]
        )
        return mailbox.pk


def _saved_view_id(tenant):
    """A view saved by the tenant's agent (the member the cast logs in as)."""
    with tenant_context(tenant):
        owner = Membership.objects.get(tenant=tenant, role=Membership.Role.AGENT).user
        return services.saved_view_create(
            owner=owner, name="Urgent", queue="mine", query="priority=4"
        ).pk


def _rule_id(tenant):
    from dispatch.models import RoutingRule

    with tenant_context(tenant):
        rule, _ = RoutingRule.objects.get_or_create(
            tenant=tenant,
            name="Printers",
            defaults={"conditions": [{"field": "text", "value": ["printer"]}], "actions": {}},
        )
        return rule.pk


def _group_id(tenant):
    from helpdesk.models import SupportGroup

    with tenant_context(tenant):
        return SupportGroup.objects.get_or_create(tenant=tenant, name="Tier 1")[0].pk


def _decision_id(tenant, ticket):
    from django.utils import timezone

    from dispatch.models import RoutingDecision

    with tenant_context(tenant):
        return RoutingDecision.objects.create(
            tenant=tenant, ticket=ticket, trigger="created", outcome="review",
            explanation="Recommended", needs_review=True, created_at=timezone.now(),
        ).pk  # fmt: skip


def _api_key_id(tenant):
    from helpdesk.services import api_key_create

    with tenant_context(tenant):
        return api_key_create(actor=None, name="Chat", scope="read")[0].pk


def _webhook_id(tenant):
    from tickets.models import Webhook

    with tenant_context(tenant):
        webhook = Webhook.objects.order_by("pk").first()
        if webhook is None:
            # Written directly: a private address, refused when posted, so a
            # "Send test" in the cast reaches no network.
            webhook = Webhook(
                tenant=tenant, name="Ops", url="http://127.0.0.1:9/hook", events=["ticket.created"]
            )
            webhook.secret = "whsec_cast"
            webhook.save()
        return webhook.pk


def _automation_id(tenant):
    from tickets.models import AutomationRule

    with tenant_context(tenant):
        rule = AutomationRule.objects.order_by("pk").first()
        if rule is None:
            rule = AutomationRule.objects.create(
                tenant=tenant, name="Close solved", kind="close_resolved", wait=3
            )
        return rule.pk


def _notification_id(tenant):
    """A notification of the tenant's (first) agent: the member the cast logs in as."""
    from helpdesk.notifications import notification_create

    with tenant_context(tenant):
        owner = (
            Membership.objects.filter(tenant=tenant, role=Membership.Role.AGENT)
            .order_by("pk")
            .first()
            .user
        )
        return notification_create(
            user_id=owner.pk, text="Printer on fire is yours", url="/", source_key="cast"
        ).pk


def _member_id(tenant):
    """The cast's agent's membership (the lower role acts on it)."""
    return Membership.objects.filter(tenant=tenant, role=Membership.Role.AGENT).first().pk


def _invitation_id(tenant):
    from helpdesk.models import Invitation

    with tenant_context(tenant):
        invitation, _ = Invitation.objects.get_or_create(
            tenant=tenant,
            email="new@example.com",
            defaults={"role": "agent", "expires_at": timezone.now() + timedelta(days=7)},
        )
        return invitation.pk


def _group_id(tenant):
    from helpdesk.models import SupportGroup

    with tenant_context(tenant):
        group, _ = SupportGroup.objects.get_or_create(tenant=tenant, name="Hardware")
        return group.pk


def _category_id(tenant):
    from tickets.models import Category

    with tenant_context(tenant):
        category, _ = Category.objects.get_or_create(tenant=tenant, name="Printers", parent=None)
        return category.pk


def _with_logo(tenant):
    from django.core.files.base import ContentFile

    if not tenant.logo:
        tenant.logo.save("cast.png", ContentFile(b"\x89PNG\r\n\x1a\n" + b"0" * 32))
    return [tenant.slug]


def _sla_calendar_id(tenant):
    from sla.models import Calendar

    with tenant_context(tenant):
        calendar, _ = Calendar.objects.get_or_create(
            tenant=tenant, name="Office", defaults={"hours": {"0": [["09:00", "17:00"]]}}
        )
        return calendar.pk


def _sla_closure_id(tenant):
    from datetime import date

    from sla.models import CalendarClosure

    calendar_id = _sla_calendar_id(tenant)
    with tenant_context(tenant):
        closure, _ = CalendarClosure.objects.get_or_create(
            tenant=tenant,
            calendar_id=calendar_id,
            name="Party",
            defaults={"first_date": date(2026, 12, 24), "last_date": date(2026, 12, 24)},
        )
        return closure.pk


def _sla_policy_id(tenant):
    from sla.models import Policy

    calendar_id = _sla_calendar_id(tenant)
    with tenant_context(tenant):
        policy, _ = Policy.objects.get_or_create(
            tenant=tenant, name="Standard", defaults={"calendar_id": calendar_id}
        )
        return policy.pk


# (url name, args builder, minimum role, methods allowed)
VIEWS = [
    ("tickets:list", lambda t, tk: [t.slug], "agent", "GET"),
    ("tickets:new", lambda t, tk: [t.slug], "agent", "GET"),
    ("tickets:detail", lambda t, tk: [t.slug, tk.number], "agent", "GET"),
    ("tickets:update", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("tickets:reply", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("tickets:state", lambda t, tk: [t.slug, tk.number], "agent", "GET"),
    (
        "tickets:attachment",
        lambda t, tk: [t.slug, tk.number, _attachment_id(t, tk)],
        "agent",
        "GET",
    ),
    ("tickets:queues", lambda t, tk: [t.slug], "agent", "GET-302"),
    ("tickets:home", lambda t, tk: [t.slug], "agent", "GET-302"),
    ("tickets:queue", lambda t, tk: [t.slug, "mine"], "agent", "GET"),
    ("tickets:queue_bulk", lambda t, tk: [t.slug, "mine"], "agent", "POST"),
    ("tickets:saved_view_create", lambda t, tk: [t.slug], "agent", "POST"),
    ("tickets:saved_view_delete", lambda t, tk: [t.slug, _saved_view_id(t)], "agent", "POST"),
    ("tickets:board", lambda t, tk: [t.slug], "agent", "GET"),
    ("tickets:move", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("tickets:portal_links_reset", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("tickets:presence", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    (
        "tickets:canned_insert",
        lambda t, tk: [t.slug, tk.number, _canned_id(t)],
        "agent",
        "GET",
    ),
    ("tickets:canned_list", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:portal_settings", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:canned_edit", lambda t, tk: [t.slug, _canned_id(t)], "admin", "GET"),
    ("tickets:canned_delete", lambda t, tk: [t.slug, _canned_id(t)], "admin", "POST"),
    ("tickets:search", lambda t, tk: [t.slug], "agent", "GET"),
    ("tickets:quarantine", lambda t, tk: [t.slug], "admin", "GET"),
    (
        "tickets:quarantine_reprocess",
        lambda t, tk: [t.slug, _quarantined_id(t)],
        "admin",
        "POST",
    ),
    ("tickets:quarantine_detail", lambda t, tk: [t.slug, _quarantined_id(t)], "admin", "GET"),
    ("tickets:quarantine_download", lambda t, tk: [t.slug, _quarantined_id(t)], "admin", "GET"),
    (
        "tickets:quarantine_file_anyway",
        lambda t, tk: [t.slug, _quarantined_id(t)],
        "admin",
        "POST",
    ),
    ("tickets:failed_work", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:categories", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:email_setup", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:tags", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:tag_rename", lambda t, tk: [t.slug], "admin", "POST"),
    ("tickets:category_change", lambda t, tk: [t.slug, _category_id(t)], "admin", "POST"),
    ("tickets:failed_work_run_again", lambda t, tk: [t.slug], "admin", "POST"),
    ("tickets:mailboxes", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:mailbox_edit", lambda t, tk: [t.slug, _mailbox_id(t)], "admin", "GET"),
    ("tickets:mailbox_new_token", lambda t, tk: [t.slug, _mailbox_id(t)], "admin", "POST"),
    ("tickets:webhooks", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:webhook_edit", lambda t, tk: [t.slug, _webhook_id(t)], "admin", "GET"),
    ("tickets:webhook_secret", lambda t, tk: [t.slug, _webhook_id(t)], "admin", "POST"),
    ("tickets:webhook_test", lambda t, tk: [t.slug, _webhook_id(t)], "admin", "POST"),
    ("tickets:webhook_delete", lambda t, tk: [t.slug, _webhook_id(t)], "admin", "POST"),
    ("tickets:automations", lambda t, tk: [t.slug], "admin", "GET"),
    ("tickets:automation_edit", lambda t, tk: [t.slug, _automation_id(t)], "admin", "GET"),
    ("tickets:automation_delete", lambda t, tk: [t.slug, _automation_id(t)], "admin", "POST"),
    ("tenant_settings", lambda t, tk: [t.slug], "admin", "GET"),
    ("tenant_general", lambda t, tk: [t.slug], "admin", "GET"),
    ("tenant_logo_upload", lambda t, tk: [t.slug], "admin", "POST"),
    ("tenant_logo", lambda t, tk: _with_logo(t), "agent", "GET"),
    ("people", lambda t, tk: [t.slug], "admin", "GET"),
    ("member_role", lambda t, tk: [t.slug, _member_id(t)], "admin", "POST"),
    ("member_deactivate", lambda t, tk: [t.slug, _member_id(t)], "admin", "POST"),
    ("member_reactivate", lambda t, tk: [t.slug, _member_id(t)], "admin", "POST"),
    ("invitation_resend", lambda t, tk: [t.slug, _invitation_id(t)], "admin", "POST"),
    ("invitation_revoke", lambda t, tk: [t.slug, _invitation_id(t)], "admin", "POST"),
    ("groups", lambda t, tk: [t.slug], "admin", "GET"),
    ("group_edit", lambda t, tk: [t.slug, _group_id(t)], "admin", "GET"),
    ("group_archive", lambda t, tk: [t.slug, _group_id(t)], "admin", "POST"),
    ("group_members", lambda t, tk: [t.slug, _group_id(t)], "admin", "POST"),
    ("audit_log", lambda t, tk: [t.slug], "admin", "GET"),
    ("api_keys", lambda t, tk: [t.slug], "admin", "GET"),
    ("api_key_revoke", lambda t, tk: [t.slug, _api_key_id(t)], "admin", "POST"),
    ("notifications", lambda t, tk: [t.slug], "agent", "GET"),
    ("notifications_read", lambda t, tk: [t.slug], "agent", "POST"),
    ("reports:dashboard", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:tickets", lambda t, tk: [t.slug, "backlog"], "manager", "GET"),
    ("reports:efficiency", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:quality", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:causes", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:load", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:stalls", lambda t, tk: [t.slug], "manager", "GET"),
    ("reports:channels", lambda t, tk: [t.slug], "manager", "GET"),
    ("notification_bell", lambda t, tk: [t.slug], "agent", "GET"),
    ("notification_open", lambda t, tk: [t.slug, _notification_id(t)], "agent", "GET-302"),
    ("notification_preferences", lambda t, tk: [t.slug], "agent", "GET"),
    ("member_mentions", lambda t, tk: [t.slug], "agent", "GET"),
    ("keyboard_shortcuts", lambda t, tk: [t.slug], "agent", "POST"),
    ("sla:settings", lambda t, tk: [t.slug], "admin", "GET"),
    ("sla:calendar_new", lambda t, tk: [t.slug], "admin", "GET"),
    ("sla:calendar", lambda t, tk: [t.slug, _sla_calendar_id(t)], "admin", "GET"),
    ("sla:closure_add", lambda t, tk: [t.slug, _sla_calendar_id(t)], "admin", "POST"),
    (
        "sla:closure_remove",
        lambda t, tk: [t.slug, _sla_calendar_id(t), _sla_closure_id(t)],
        "admin",
        "POST",
    ),
    ("sla:policy_new", lambda t, tk: [t.slug], "admin", "GET"),
    ("sla:policy", lambda t, tk: [t.slug, _sla_policy_id(t)], "admin", "GET"),
    ("sla:what_if", lambda t, tk: [t.slug], "admin", "GET"),
    ("sla:ticket_panel", lambda t, tk: [t.slug, tk.number], "agent", "GET"),
    ("dispatch:rules", lambda t, tk: [t.slug], "admin", "GET"),
    ("dispatch:rule_new", lambda t, tk: [t.slug], "admin", "GET"),
    ("dispatch:rule_tester", lambda t, tk: [t.slug], "admin", "GET"),
    ("dispatch:rule_edit", lambda t, tk: [t.slug, _rule_id(t)], "admin", "GET"),
    ("dispatch:rule_move", lambda t, tk: [t.slug, _rule_id(t)], "admin", "POST"),
    ("dispatch:rule_toggle", lambda t, tk: [t.slug, _rule_id(t)], "admin", "POST"),
    ("dispatch:rule_delete", lambda t, tk: [t.slug, _rule_id(t)], "admin", "POST"),
    ("dispatch:group_edit", lambda t, tk: [t.slug, _group_id(t)], "admin", "GET"),
    ("dispatch:agents", lambda t, tk: [t.slug], "admin", "GET"),
    ("dispatch:home", lambda t, tk: [t.slug], "agent", "GET"),
    ("dispatch:availability", lambda t, tk: [t.slug], "agent", "POST"),
    ("dispatch:get_next", lambda t, tk: [t.slug], "agent", "POST"),
    ("dispatch:review", lambda t, tk: [t.slug], "dispatcher", "GET"),
    (
        "dispatch:review_assign",
        lambda t, tk: [t.slug, _decision_id(t, tk)],
        "dispatcher",
        "POST",
    ),
    ("dispatch:why", lambda t, tk: [t.slug, tk.number], "agent", "GET"),
    ("dispatch:escalate", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("dispatch:reroute", lambda t, tk: [t.slug, tk.number], "dispatcher", "POST"),
    ("dispatch:weights", lambda t, tk: [t.slug], "admin", "GET"),
    ("dispatch:availability_widget", lambda t, tk: [t.slug], "agent", "GET"),
    ("dispatch:leader", lambda t, tk: [t.slug], "agent", "GET"),
    ("dispatch:leader_assign", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("dispatch:accept", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
    ("dispatch:decline", lambda t, tk: [t.slug, tk.number], "agent", "POST"),
]
# The fixture of a member with each minimum role.
# A manager's pages are served to an admin (a higher role) as well.
ROLE_FIXTURES = {
    "admin": "admin_user",
    "manager": "admin_user",
    "dispatcher": "dispatcher",
    "agent": "agent",
}
IDS = [name for name, *_ in VIEWS]


@pytest.mark.parametrize(("name", "args", "role", "method"), VIEWS, ids=IDS)
def test_member_with_the_role_is_served(name, args, role, method, tenant, ticket, login, request):
    user = request.getfixturevalue(ROLE_FIXTURES[role])
    client = login(user)
    url = reverse(name, args=args(tenant, ticket))
    if method.startswith("GET"):
        response = client.get(url)
        assert response.status_code == (302 if method == "GET-302" else 200)
    else:
        response = client.post(url, {})
        # An empty POST is bad input: re-shown with errors, or a plain redirect.
        assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize(("name", "args", "role", "method"), VIEWS, ids=IDS)
def test_other_tenants_user_gets_404(name, args, role, method, tenant, ticket, outsider, login):
    client = login(outsider)
    url = reverse(name, args=args(tenant, ticket))
    response = client.get(url) if method.startswith("GET") else client.post(url, {})
    assert response.status_code == 404
    assert b"Printer on fire" not in response.content


@pytest.mark.parametrize(("name", "args", "role", "method"), VIEWS, ids=IDS)
def test_anonymous_visitor_is_sent_to_login(name, args, role, method, tenant, ticket, client):
    url = reverse(name, args=args(tenant, ticket))
    response = client.get(url) if method.startswith("GET") else client.post(url, {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "args", "role", "method"),
    [v for v in VIEWS if v[2] != "agent"],
    ids=[v[0] for v in VIEWS if v[2] != "agent"],
)
def test_lower_role_gets_403(name, args, role, method, tenant, ticket, agent, login):
    client = login(agent)
    url = reverse(name, args=args(tenant, ticket))
    response = client.get(url) if method.startswith("GET") else client.post(url, {})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("name", "args", "role", "method"), [v for v in VIEWS if v[3] == "POST"], ids=str
)
def test_get_on_a_post_only_url_is_refused(name, args, role, method, tenant, ticket, agent, login):
    response = login(agent).get(reverse(name, args=args(tenant, ticket)))
    assert response.status_code == 405


def test_unknown_tenant_is_404_like_a_foreign_one(agent, login):
    response = login(agent).get(reverse("tickets:list", args=["nope"]))
    assert response.status_code == 404


def test_another_tenants_ticket_number_is_404_in_our_tenant(
    tenant, other_tenant, agent, outsider, login
):
    with tenant_context(other_tenant):
        theirs = TicketFactory(subject="Globex secret")
    response = login(agent).get(reverse("tickets:detail", args=[tenant.slug, theirs.number]))
    assert response.status_code == 404


def test_every_tenant_view_is_in_the_cast():
    """A new page under /<tenant>/ (inside a tenant_pages() include, whatever
    its arguments are called) must be added to VIEWS, so that its
    other-tenant 404 and login redirect are tested."""
    tenant_pages = {entry.name for entry in url_entries() if entry.tenant_page}
    assert "tickets:detail" in tenant_pages and "tenant_settings" in tenant_pages
    assert None not in tenant_pages, "every tenant page is named, so the cast can reach it"
    assert tenant_pages <= set(IDS)
