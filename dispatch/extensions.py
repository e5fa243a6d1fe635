"""Dispatch's parts of other apps' pages, through their extension points:
the "Why this agent" ticket panel, the escalation event kind, the system
actor "Routing", the routing settings section and the demo data."""

from helpdesk.extensions import (
    DemoSeeder,
    NotificationKind,
    SettingsSection,
    demo_seeders,
    notification_kinds,
    settings_sections,
)
from tickets.extensions import (
    EventKind,
    SystemActor,
    TicketPanel,
    event_kinds,
    system_actors,
    ticket_panels,
)

from .services import ESCALATED_KIND, SOURCE


def why_this_agent_panel(ticket, request) -> dict:
    """No query here: the panel loads its content from dispatch's own view
    (`dispatch:why`) once the page is shown, so the ticket page keeps to its
    query budget whatever dispatch has to say."""
    return {}


def _seed(tenant, stdout) -> None:
    from .demo import seed_dispatch_demo

    seed_dispatch_demo(tenant, stdout)


def register_dispatch_extensions() -> None:
    notification_kinds.register(
        NotificationKind(
            name="dispatch.group_leader",
            label="A bad rating or a breached SLA target in a group I lead",
            default_mail=True,
            order=60,
        )
    )
    system_actors.register(SystemActor(name=SOURCE, label="Routing"))
    event_kinds.register(
        EventKind(
            name=ESCALATED_KIND,
            label="Escalated",
            template="dispatch/events/escalated.html",
            is_public=False,
        )
    )
    ticket_panels.register(
        TicketPanel(
            name="dispatch.why_this_agent",
            template="dispatch/panels/why_this_agent.html",
            loader=why_this_agent_panel,
            order=60,
        )
    )
    settings_sections.register(
        SettingsSection(
            name="dispatch.routing",
            title="Routing",
            description="Rules that route new tickets; each group's mode and strategy; "
            "agents' capacity.",
            url_name="dispatch:rules",
            order=10,
        )
    )
    demo_seeders.register(DemoSeeder(name="dispatch", seed=_seed, order=50))
