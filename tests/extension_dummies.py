"""A test-only "higher app": one dummy of every extension point, registered
for a test by the `dummy_extensions` fixture and taken away after it, as a
real app registers from its `AppConfig.ready()`."""

from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.db.models import Count, Q

from helpdesk.extensions import (
    NotificationKind,
    RequestHook,
    SettingsSection,
    TopbarWidget,
    notification_kinds,
    request_hooks,
    settings_sections,
    topbar_widgets,
)
from tickets import extensions
from tickets.models import Message, Ticket

TEMPLATES = Path(__file__).parent / "templates"

# How often each page-wide loader ran, for the tests to count.
calls: Counter = Counter()


def message_counts(rows) -> dict[int, int]:
    """Customer messages per ticket: one query for the whole page."""
    calls["column"] += 1
    return dict(
        Message.objects.filter(ticket__in=[row.pk for row in rows], kind=Message.Kind.CUSTOMER)
        .values_list("ticket")
        .annotate(n=Count("*"))
        .order_by()
    )


def vip_badges(rows) -> dict[int, str]:
    """ "VIP" for tickets tagged vip: one query for the whole page."""
    calls["badge"] += 1
    vip = Ticket.objects.filter(pk__in=[row.pk for row in rows], tags__contains=["vip"])
    return {pk: "VIP" for pk in vip.values_list("pk", flat=True)}


def panel_before(ticket, request) -> dict:
    calls["panel"] += 1
    return {"panel_text": f"Loaded for {ticket.reference} by {request.user.username}"}


def panel_after(ticket, request) -> dict | None:
    # Drawn only for urgent tickets: None leaves the panel out.
    return {"panel_text": "Urgent work"} if ticket.priority == Ticket.Priority.URGENT else None


def portal_greeting(ticket, contact) -> dict:
    return {"greeting": f"Hello {contact.display_name}"}


PANELS = [
    extensions.TicketPanel(
        name="testext.before", template="testext/panel.html", loader=panel_before, order=10
    ),
    extensions.TicketPanel(
        name="testext.after", template="testext/panel.html", loader=panel_after, order=90
    ),
]
COLUMNS = [
    extensions.QueueColumn(
        name="testext.messages",
        header="Customer messages",
        loader=message_counts,
        template="testext/cell.html",
    ),
]
BADGES = [
    extensions.QueueBadge(
        name="testext.vip", label="Important customer", loader=vip_badges, formatter=str
    ),
]
EVENT_KINDS = [
    extensions.EventKind(
        name="testext_escalated",
        label="Escalated",
        template="testext/event.html",
        is_public=False,
    ),
]
FILTERS = [
    extensions.QueueFilter(
        name="testext_vip",
        label="Customer rank",
        choices=(("vip", "Important"), ("plain", "Everyone else")),
        narrow=lambda value: (
            Q(tags__contains=["vip"]) if value == "vip" else ~Q(tags__contains=["vip"])
        ),
        any_label="Any rank",
    ),
]
PORTAL_BLOCKS = [
    extensions.PortalBlock(
        name="testext.greeting", template="testext/portal.html", loader=portal_greeting
    ),
]
SYSTEM_ACTORS = []
SETTINGS_SECTIONS = [
    SettingsSection(
        name="testext.rules",
        title="Dummy routing rules",
        description="Who gets which ticket.",
        url_name="notifications",
        order=50,
    ),
    SettingsSection(
        name="testext.agents_too",
        title="Dummy for agents",
        description="A page every member may open.",
        url_name="notifications",
        min_role="agent",
        order=60,
    ),
]

NOTIFICATION_KINDS = [
    NotificationKind(
        name="testext.breach",
        label="Dummy deadline missed",
        description="A ticket of yours missed its deadline.",
        default_in_app=False,
        default_mail=True,
        order=90,
    )
]

TOPBAR_WIDGETS = [
    TopbarWidget(
        name="testext.status",
        label="Dummy status",
        url_name="notification_bell",
        link_url_name="notifications",
        order=50,
    ),
    TopbarWidget(
        name="testext.admins_only",
        label="Dummy for admins",
        url_name="notification_bell",
        link_url_name="notifications",
        min_role="admin",
        order=60,
    ),
]


# Requests the dummy hook saw, by tenant (apart from `calls`: every page has them).
hook_calls: Counter = Counter()


def note_request(request) -> None:
    hook_calls[request.tenant.slug] += 1


REQUEST_HOOKS = [RequestHook(name="testext.note", call=note_request)]


@contextmanager
def registered():
    """Every dummy registered for the length of the block."""
    calls.clear()
    hook_calls.clear()
    with ExitStack() as stack:
        for registry, items in (
            (extensions.ticket_panels, PANELS),
            (extensions.queue_columns, COLUMNS),
            (extensions.queue_badges, BADGES),
            (extensions.queue_filters, FILTERS),
            (extensions.event_kinds, EVENT_KINDS),
            (extensions.portal_blocks, PORTAL_BLOCKS),
            (extensions.system_actors, SYSTEM_ACTORS),
            (settings_sections, SETTINGS_SECTIONS),
            (notification_kinds, NOTIFICATION_KINDS),
            (topbar_widgets, TOPBAR_WIDGETS),
            (request_hooks, REQUEST_HOOKS),
        ):
            stack.enter_context(registry.temporarily(*items))
        yield
