"""Speed is a feature: every agent page answers in at most QUERY_BUDGET
queries, and in as many for 30 tickets, messages or rows as for one.

How the queries are counted, and why this way. Production runs a tenant
page as: the session, the user and the member's memberships, each in
autocommit; then `tenant_context` opens the tenant's transaction (BEGIN),
sets `app.tenant_id` (one statement), runs the view and its templates, and
COMMITs. Nothing is sent after the COMMIT: the setting is
transaction-local, and `tenant_context` sets an outer tenant back only when
it ends inside an outer transaction.

An ordinary pytest-django test runs inside a transaction of its own: there
the tenant's transaction becomes a SAVEPOINT and a RELEASE, and the outer
tenant (none) is set back afterwards, three statements production never
sends. They cannot simply be subtracted either: a view whose service opens
a transaction of its own (the quarantine's download records who downloaded)
sends a SAVEPOINT and a RELEASE in production too. So this test runs with
`transaction=True`: no test transaction, the tenant's transaction is the
outermost one, and CaptureQueriesContext records what production sends.

Django (since 4.2) also records where it opens and ends a transaction, as
"BEGIN" and "COMMIT" beside the queries. The rule counts queries, not the
tenant transaction's two ends: they are checked (one of each at most) and
left out of the count. (Django's connection health check, a bare `SELECT 1`
on a reused connection, is not recorded in production either.)

Each page is fetched once before it is counted, as a running server has its
per-process caches (content types and the like) warm.
"""

from contextlib import contextmanager
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from helpdesk import services as helpdesk_services
from helpdesk.models import Membership, SupportGroupMember
from helpdesk.tenancy import tenant_context
from sla.models import Calendar, Policy, PolicyTarget
from sla.services.timers import sla_recompute
from tests.factories import (
    PASSWORD,
    CategoryFactory,
    ContactFactory,
    MembershipFactory,
    SupportGroupFactory,
    TicketFactory,
)
from tests.test_view_cast import VIEWS
from tickets import intake, selectors, services
from tickets.automations.services import automation_rule_create
from tickets.models import (
    Event,
    EventHandlerFailure,
    Mailbox,
    Message,
    Organization,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

QUERY_BUDGET = 12
GROWN = 30
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
STATUSES = ["new", "open", "pending", "on_hold", "resolved"]


@contextmanager
def _no_hand_over():
    """Rows are not handed to Celery after commit: no worker runs here."""
    with (
        mock.patch("helpdesk.handover.publish_quietly"),
        mock.patch("tickets.intake.store.inbound_schedule"),
    ):
        yield


class Desk:
    """A tenant with some of everything the agent pages list, grown by
    `grow(n)` to n of each: agents, groups, categories, tickets (each with its
    own requester, spread over assignees, groups, categories and statuses),
    messages with attachments on one ticket, notifications, canned responses,
    saved views, mailboxes, quarantined mail, API keys and failed work."""

    def __init__(self, tenant, admin, agent, ticket):
        self.tenant, self.admin, self.agent, self.ticket = tenant, admin, agent, ticket
        self.agents, self.groups, self.categories, self.tickets = [admin, agent], [], [], []
        self.counts: dict[str, int] = {}

    def _more(self, kind: str, n: int) -> range:
        done = self.counts.get(kind, 0)
        self.counts[kind] = max(done, n)
        return range(done, n)

    def grow(self, n: int) -> None:
        with _no_hand_over(), tenant_context(self.tenant):
            self._grow(n)

    def _grow(self, n: int) -> None:
        tenant, admin, agent = self.tenant, self.admin, self.agent
        for _ in self._more("agents", n):
            self.agents.append(MembershipFactory(tenant=tenant, role="agent").user)
        for i in self._more("groups", n):
            group = SupportGroupFactory(name=f"Team {i:02}")
            for member in (admin, agent):
                SupportGroupMember.objects.create(tenant=tenant, group=group, user=member)
            self.groups.append(group)
        for i in self._more("categories", n):
            parent = self.categories[i - 1] if i % 2 else None
            self.categories.append(CategoryFactory(name=f"Topic {i:02}", parent=parent))
        if not self.counts.get("sla"):
            # SLA's badge and panel draw from these (one query a page each).
            self.counts["sla"] = 1
            calendar = Calendar.objects.create(
                tenant=tenant, name="Office", hours={"0": [["09:00", "17:00"]]}
            )
            policy = Policy.objects.create(tenant=tenant, name="Standard", calendar=calendar)
            for priority in range(1, 5):
                PolicyTarget.objects.create(
                    tenant=tenant, policy=policy, priority=priority, kind="resolution", seconds=3600
                )
                PolicyTarget.objects.create(
                    tenant=tenant,
                    policy=policy,
                    priority=priority,
                    kind="first_response",
                    seconds=600,
                    business=False,
                )
            sla_recompute(ticket=self.ticket)
        for i in self._more("tickets", n):
            organization = Organization.objects.create(tenant=tenant, name=f"Customer {i} Ltd")
            ticket = TicketFactory(
                subject=f"Printer {i} jams",
                requester=ContactFactory(organization=organization),
                assignee=self.agents[i % len(self.agents)],
                group=self.groups[i % len(self.groups)],
                category=self.categories[i % len(self.categories)],
                priority=1 + i % 4,
                tags=["printer", f"floor-{i}"],
            )
            status = STATUSES[i % len(STATUSES)]
            if status != "new":
                services.ticket_change_status(
                    ticket=ticket, actor=admin, status=status, expected_version=None
                )
            sla_recompute(ticket=ticket)
            self.tickets.append(ticket)
        for i in self._more("messages", n):
            author = self.agents[i % len(self.agents)]
            if i % 3 == 0:
                kwargs = {"author_contact": self.ticket.requester, "kind": Message.Kind.CUSTOMER}
            else:
                kwargs = {"author_user": author, "kind": ("reply", "note")[i % 2]}
            services.message_add(
                ticket=self.ticket,
                body=f"Message {i}: the printer jams again",
                attachments=[
                    SimpleUploadedFile(f"shot{i}.png", PNG, "image/png"),
                    SimpleUploadedFile(f"log{i}.txt", b"paper jam", "text/plain"),
                ],
                **kwargs,
            )
        for i in self._more("notifications", n):
            for user in (admin, agent):
                helpdesk_services.notification_create(
                    user_id=user.pk, text=f"Ticket {i} is yours", url="/", source_key=f"n{i}"
                )
        for i in self._more("canned", n):
            services.canned_response_save(actor=admin, title=f"Answer {i}", body="Hello!")
        for i in self._more("saved_views", n):
            for owner in (admin, agent):
                services.saved_view_create(
                    owner=owner,
                    name=f"View {i}",
                    queue="all" if owner == admin else "mine",
                    query=f"priority={1 + i % 4}",
                    shared_with=self.groups[i % len(self.groups)] if owner == admin else None,
                )
        for i in self._more("mailboxes", n):
            services.mailbox_create(name=f"Box {i}", address=f"box{i}@acme.example")
        mailbox = Mailbox.objects.order_by("pk").first()
        for i in self._more("quarantined", n):
            inbound, _ = intake.inbound_store(mailbox=mailbox, raw=f"not a mail {i}".encode())
            intake.inbound_process(inbound=inbound)
        for i in self._more("api_keys", n):
            helpdesk_services.api_key_create(actor=admin, name=f"System {i}", scope="read")
        for i in self._more("webhooks", n):
            webhook = Webhook(
                tenant=tenant, name=f"Hook {i}", url=f"https://hooks{i}.example.com/in",
                events=["ticket.created", "ticket.assigned"],
            )  # fmt: skip
            webhook.secret = "whsec_budget"
            webhook.save()
            # The log of the first webhook (the cast's) grows.
            first = Webhook.objects.order_by("pk").first()
            delivery = WebhookDelivery.objects.create(
                tenant=tenant, webhook=first, event_name="ticket.created",
                summary=f"ACME-{i} · new ticket", body="{}", created_at=timezone.now(),
            )  # fmt: skip
            WebhookAttempt.objects.create(
                tenant=tenant, webhook=first, delivery=delivery, number=1,
                started_at=timezone.now(), duration_ms=12, status_code=500, error="Busy",
            )  # fmt: skip
        for i in self._more("automations", n):
            automation_rule_create(
                actor=admin,
                name=f"Rule {i}",
                kind=("close_resolved", "pending_reminder", "idle_assignee")[i % 3],
                wait=3,
                then_wait=2,
                group=self.groups[i % len(self.groups)],
                category=self.categories[i % len(self.categories)],
                priority=1 + i % 4,
            )
        events = list(Event.objects.order_by("pk")[: max(n, 1)])
        for i in self._more("failures", n):
            EventHandlerFailure.objects.create(
                tenant=tenant,
                event=events[i % len(events)],
                handler=f"test.handler{i}",
                attempts=1,
                last_error="Connection refused",
                failed_at=events[i % len(events)].created_at,
            )


def _pages(desk, role: str) -> list[tuple[str, str, dict]]:
    """(label, url or what makes it, headers) of every GET page of the
    tenant a member of `role` may open (the cast in test_view_cast), and the
    variants that read more: a group queue, htmx refreshes, a ticket opened
    from a filtered queue, the ticket page's poll with news, a search."""
    tenant, ticket = desk.tenant, desk.ticket
    pages = []
    for name, args, minimum, method in VIEWS:
        if not method.startswith("GET") or (role == "agent" and minimum != "agent"):
            continue
        pages.append((name, reverse(name, args=args(tenant, ticket)), {}))
    htmx = {"HTTP_HX_REQUEST": "true"}
    group_queue = f"group-{desk.groups[0].pk}"
    with tenant_context(tenant):
        first_event = Event.objects.filter(ticket=ticket).order_by("pk").first().pk
    state = reverse("tickets:state", args=[tenant.slug, ticket.number])
    detail = reverse("tickets:detail", args=[tenant.slug, ticket.number])
    search = reverse("tickets:search", args=[tenant.slug])
    queue_from = urlencode({"from": f"{group_queue}?priority=2&sort=updated"})
    # Agents have no All queue: they work from their own.
    biggest = reverse("tickets:queue", args=[tenant.slug, "all" if role == "admin" else "mine"])
    pages += [
        ("queue, biggest", biggest, {}),
        ("queue of a group", reverse("tickets:queue", args=[tenant.slug, group_queue]), {}),
        ("queue by SLA state", f"{biggest}?sla=at_risk", {}),
        ("queue refresh", biggest, htmx),
        ("board refresh", reverse("tickets:board", args=[tenant.slug]), htmx),
        ("ticket from a queue", f"{detail}?{queue_from}", {}),
        ("poll with news", f"{state}?v=0&e={first_event}&{queue_from}", htmx),
        ("poll, nothing new", lambda: f"{state}?{_shown(ticket)}", htmx),
        ("search", f"{search}?q=printer", {}),
        ("search by requester", f"{search}?q=customer", {}),
    ]
    return [(f"{label} ({role})", url, headers) for label, url, headers in pages]


# Recorded by Django where it opens and ends a transaction: here only the
# tenant's own, which the rule leaves out (see the module's docstring).
TRANSACTION_MARKERS = {"BEGIN", "COMMIT"}


def _shown(ticket) -> str:
    """The poll's query string for a page that shows the ticket as it is now."""
    with tenant_context(ticket.tenant):
        version, last_event = selectors.ticket_state(number=ticket.number)
    return urlencode({"v": version, "e": last_event})


def _count(client, url, headers: dict) -> tuple[int, list[str]]:
    url = url() if callable(url) else url
    client.get(url, **headers)  # per-process caches warm, as in a running server
    assert not connection.in_atomic_block, "counted outside any test transaction"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code in (200, 204, 302), (url, response.status_code)
    sql = [query["sql"] for query in captured.captured_queries]
    assert sql.count("BEGIN") <= 1 and sql.count("COMMIT") == sql.count("BEGIN"), sql
    sql = [statement for statement in sql if statement not in TRANSACTION_MARKERS]
    return len(sql), sql


@pytest.mark.django_db(transaction=True)
def test_every_agent_page_keeps_to_its_query_budget(tenant, login):
    admin = MembershipFactory(tenant=tenant, role=Membership.Role.ADMIN).user
    agent = MembershipFactory(tenant=tenant, role=Membership.Role.AGENT).user
    with _no_hand_over(), tenant_context(tenant):
        # As the cast's ticket: one reply with one file (its download is a page).
        ticket = TicketFactory(subject="Printer on fire", assignee=agent)
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="See attached",
            author_user=agent,
            attachments=[SimpleUploadedFile("steps.txt", b"turn it off", "text/plain")],
        )
    desk = Desk(tenant, admin, agent, ticket)
    desk.grow(1)
    agent_client = Client()
    assert agent_client.login(request=HttpRequest(), username=agent.username, password=PASSWORD)
    visits = []
    with _no_hand_over():
        for client, role in ((login(admin), "admin"), (agent_client, "agent")):
            visits += [(client, *page) for page in _pages(desk, role)]
    few = {label: _count(client, url, headers) for client, label, url, headers in visits}
    desk.grow(GROWN)
    many = {label: _count(client, url, headers) for client, label, url, headers in visits}

    table = [f"{'page':<40} {'1 row':>6} {f'{GROWN} rows':>8}"]
    details = []
    for _, label, _, _ in visits:
        (one, _), (grown, sql) = few[label], many[label]
        over = grown > QUERY_BUDGET or grown != one
        table.append(f"{label:<40} {one:>6} {grown:>8}{'  <-' if over else ''}")
        if over:
            details += [f"{label}:", *(f"    {statement[:160]}" for statement in sql)]
    assert not details, "\n".join(table + details)
