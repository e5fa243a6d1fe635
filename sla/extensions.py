"""What SLA adds to other apps' pages and lists, through their registries."""

from __future__ import annotations

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
    QueueBadge,
    SystemActor,
    TicketPanel,
    event_kinds,
    queue_badges,
    system_actors,
    ticket_panels,
)

from .selectors import sla_badges_for_rows, sla_panel_for_ticket
from .services.alerts import BREACH_EVENT


def _demo(tenant, stdout) -> None:
    from .demo import sla_demo_seed

    sla_demo_seed(tenant, stdout)


def register_sla_extensions() -> None:
    """Called once, from SlaConfig.ready()."""
    system_actors.register(SystemActor(name="sla", label="SLA", order=10))
    # Members choose how they hear of SLA alerts, like every other kind.
    notification_kinds.register(
        NotificationKind(
            name="sla_at_risk",
            label="A ticket's SLA target is at risk",
            description="Mine, or unassigned ones I dispatch.",
            default_mail=False,
            order=50,
        )
    )
    notification_kinds.register(
        NotificationKind(
            name="sla_breached",
            label="A ticket's SLA target was breached",
            description="Mine, or ones I dispatch or am named for.",
            default_mail=True,
            order=51,
        )
    )
    event_kinds.register(
        EventKind(
            name=BREACH_EVENT,
            label="SLA target breached",
            template="sla/events/breached.html",
            is_public=False,
        )
    )
    queue_badges.register(
        QueueBadge(
            name="sla.state",
            label="SLA",
            loader=sla_badges_for_rows,
            template="sla/badge.html",
            order=10,
        )
    )
    ticket_panels.register(
        TicketPanel(
            name="sla.targets",
            template="sla/panel.html",
            loader=sla_panel_for_ticket,
            order=20,
        )
    )
    settings_sections.register(
        SettingsSection(
            name="sla.settings",
            title="SLA",
            description="Business calendars, holidays, policies and their targets; what-if.",
            url_name="sla:settings",
            order=40,
        )
    )
    demo_seeders.register(DemoSeeder(name="sla.demo", seed=_demo, order=40))
