"""Dispatch's parts of other apps' pages, through their extension points:
the "Why this agent" ticket panel, the escalation event kind, the system
actor "Routing", the routing settings section and the demo data."""

from helpdesk.extensions import (
    DemoSeeder,
    NavItem,
    NotificationKind,
    RequestHook,
    SettingsSection,
    TopbarWidget,
    demo_seeders,
    nav_items,
    notification_kinds,
    request_hooks,
    settings_sections,
    topbar_widgets,
)
from tickets.extensions import (
    EventKind,
    QueueBadge,
    QueueFigure,
    SystemActor,
    TicketPanel,
    event_kinds,
    queue_badges,
    queue_figures,
    system_actors,
    ticket_panels,
)

from . import selectors
from .services import ESCALATED_KIND, SOURCE
from .services.acceptance import ACCEPTED_KIND, DECLINED_KIND, TIMED_OUT_KIND
from .services.breach import HANDOVER_KIND
from .services.presence import agent_seen


def why_this_agent_panel(ticket, request) -> dict:
    """No query here: the panel loads its content from dispatch's own view
    (`dispatch:why`) once the page is shown, so the ticket page keeps to its
    query budget whatever dispatch has to say."""
    return {}


def get_next_figure(queue, request) -> dict | None:
    """ "Get next ticket" at the head of an agent's own queue (no query: the
    button posts to `dispatch:get_next`, which says when nothing waits)."""
    if queue.slug != "mine" or request is None:
        return None
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
    for name, label, template in (
        (ACCEPTED_KIND, "Accepted", "accepted"),
        (DECLINED_KIND, "Declined", "declined"),
        (TIMED_OUT_KIND, "Not accepted in time", "accept_timeout"),
        (HANDOVER_KIND, "Handover note", "handover"),
    ):
        event_kinds.register(
            EventKind(
                name=name,
                label=label,
                template=f"dispatch/events/{template}.html",
                is_public=False,
            )
        )
    queue_badges.register(
        QueueBadge(
            name="dispatch.acceptance",
            label="Acceptance",
            loader=selectors.acceptance_badges,
            template="dispatch/acceptance_badge.html",
            order=20,
        )
    )
    topbar_widgets.register(
        TopbarWidget(
            name="dispatch.availability",
            label="Availability",
            url_name="dispatch:availability_widget",
            link_url_name="dispatch:home",
            order=10,
        )
    )
    request_hooks.register(RequestHook(name="dispatch.agent_seen", call=agent_seen))
    queue_figures.register(
        QueueFigure(
            name="dispatch.get_next",
            template="dispatch/queue_get_next.html",
            loader=get_next_figure,
            order=10,
        )
    )
    nav_items.register(
        NavItem(
            name="dispatch.home",
            label="Dispatch",
            url_name="dispatch:home",
            order=40,
            current_for=("dispatch:home", "dispatch:review", "dispatch:leader"),
        )
    )
    ticket_panels.register(
        TicketPanel(
            name="dispatch.why_this_agent",
            template="dispatch/panels/why_this_agent.html",
            loader=why_this_agent_panel,
            # High in the side column: an assignee owes Accept or Decline here.
            order=15,
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
