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
    QueueFigure,
    QueueFilter,
    SystemActor,
    TicketPanel,
    event_kinds,
    queue_badges,
    queue_figures,
    queue_filters,
    system_actors,
    ticket_panels,
)

from .selectors import (
    FILTER_STATES,
    sla_badges_for_rows,
    sla_counts_for_assignee,
    sla_panel_for_ticket,
    sla_queue_condition,
)
from .services.alerts import BREACH_EVENT


def _demo(tenant, stdout) -> None:
    from .demo import sla_demo_seed

    sla_demo_seed(tenant, stdout)


def _at_a_glance(queue, request) -> dict | None:
    """On an agent's own queue: how many of their tickets are at risk and
    breached (one query), each linked to the queue filtered by that state."""
    if queue.slug != "mine" or request is None:
        return None
    return {"sla_counts": sla_counts_for_assignee(user_id=request.user.pk)}


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
    notification_kinds.register(
        NotificationKind(
            name="sla_reminder",
            label="A ticket of mine had no activity for a while",
            description="After the hours its SLA policy sets.",
            default_mail=False,
            order=52,
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
    queue_filters.register(
        QueueFilter(
            name="sla",
            label="SLA",
            choices=tuple((state.value, state.label) for state in FILTER_STATES),
            narrow=sla_queue_condition,
            any_label="Any SLA state",
            order=10,
        )
    )
    queue_figures.register(
        QueueFigure(
            name="sla.at_a_glance",
            template="sla/queue_figure.html",
            loader=_at_a_glance,
            order=90,
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
