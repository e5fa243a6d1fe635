"""The tickets app's own parts, registered through the same extension points
higher apps use (called once, from `TicketsConfig.ready()`)."""

from helpdesk.extensions import DemoSeeder, SettingsSection, demo_seeders, settings_sections

from .. import selectors
from ..models import Event
from ..services.members import MEMBERS_SYSTEM
from ..services.tags import TAGS_SYSTEM
from . import EventKind, SystemActor, TicketPanel, event_kinds, system_actors, ticket_panels


def _requester_panel(ticket, request) -> dict:
    return {"recent_tickets": selectors.requester_recent_tickets(ticket=ticket)}


def register_tickets_extensions() -> None:
    for kind, template, is_public in (
        (Event.Kind.CREATED, "created", True),
        (Event.Kind.FIELD_CHANGED, "field_changed", True),
        (Event.Kind.STATUS_CHANGED, "field_changed", True),
        (Event.Kind.ASSIGNED, "assigned", True),
        # Each message event says whether it is public (a note is not).
        (Event.Kind.MESSAGE_ADDED, "message_added", True),
        (Event.Kind.DELIVERY_FAILED, "delivery_failed", False),
    ):
        event_kinds.register(
            EventKind(
                name=kind.value,
                label=Event.Kind(kind).label,
                template=f"tickets/events/{template}.html",
                is_public=is_public,
            )
        )

    # What automations do on their own (tickets.automations).
    event_kinds.register(
        EventKind(
            name="automation_reminded",
            label="Assignee reminded",
            template="tickets/events/automation_reminded.html",
            is_public=False,
        )
    )
    system_actors.register(SystemActor(name="automations", label="Automation"))
    system_actors.register(SystemActor(name=MEMBERS_SYSTEM, label="Team settings"))
    system_actors.register(SystemActor(name=TAGS_SYSTEM, label="Tag settings"))

    ticket_panels.register(
        TicketPanel(
            name="tickets.requester",
            template="tickets/panels/requester.html",
            loader=_requester_panel,
            order=50,
        )
    )

    for section in (
        SettingsSection(
            name="tickets.categories",
            title="Categories",
            description="What tickets are about: two levels, in your order.",
            url_name="tickets:categories",
            order=10,
        ),
        SettingsSection(
            name="tickets.canned_responses",
            title="Canned responses",
            description="Ready-made replies agents insert into the composer.",
            url_name="tickets:canned_list",
            order=20,
        ),
        SettingsSection(
            name="tickets.tags",
            title="Tags",
            description="Rename a tag, or merge two, on every ticket.",
            url_name="tickets:tags",
            order=12,
        ),
        SettingsSection(
            name="tickets.email_setup",
            title="Email set-up",
            description="Where customers write, how it reaches you, and a test mail.",
            url_name="tickets:email_setup",
            order=25,
        ),
        SettingsSection(
            name="tickets.mailboxes",
            title="Mailboxes",
            description="Addresses customers write to, and how their mail comes in.",
            url_name="tickets:mailboxes",
            order=30,
        ),
        SettingsSection(
            name="tickets.quarantine",
            title="Quarantined mail",
            description="Mail that was held back instead of filed; file or reprocess it.",
            url_name="tickets:quarantine",
            order=40,
        ),
        SettingsSection(
            name="tickets.failed_work",
            title="Failed work",
            description="Background work that failed (routing, mail, notifications): see why, run it again.",
            url_name="tickets:failed_work",
            order=45,
        ),
        SettingsSection(
            name="tickets.webhooks",
            title="Webhooks",
            description="Post ticket events to other systems or a Slack channel.",
            url_name="tickets:webhooks",
            order=60,
        ),
        SettingsSection(
            name="tickets.automations",
            title="Automations",
            description="Close solved tickets, remind customers and assignees, on a schedule.",
            url_name="tickets:automations",
            order=65,
        ),
    ):
        settings_sections.register(section)

    from ..automations.demo import seed_automations_and_webhooks

    demo_seeders.register(
        DemoSeeder(name="tickets.automations", seed=seed_automations_and_webhooks, order=50)
    )
