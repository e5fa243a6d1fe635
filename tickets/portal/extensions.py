"""The portal's registrations in the tickets app's extension points
(called once, from `TicketsConfig.ready()`)."""

from helpdesk.extensions import (
    DemoSeeder,
    NotificationKind,
    SettingsSection,
    demo_seeders,
    notification_kinds,
    settings_sections,
)

from ..extensions import (
    EventKind,
    QueueFigure,
    TicketPanel,
    event_kinds,
    queue_figures,
    ticket_panels,
)
from .demo import portal_demo_seed
from .selectors import csat_for_agent
from .services import BAD_RATING_KIND, LINKS_RESET, RATED, portal_link_recipients


def _links_panel(ticket, request) -> dict:
    # No query (the requester comes with the ticket): the ticket page's
    # budget is spent on what agents read.
    return {"portal_link_holders": portal_link_recipients(ticket)}


def _csat_figure(queue, request) -> dict | None:
    """The member's own CSAT (last 30 days) on their "Mine" queue."""
    if queue.slug != "mine" or request is None:
        return None
    good, total = csat_for_agent(user_id=request.user.pk)
    return {"csat_good": good, "csat_total": total}


def register_portal_extensions() -> None:
    notification_kinds.register(
        NotificationKind(
            name=BAD_RATING_KIND,
            label="A customer gave my ticket a bad rating",
            description="The customer's score and comment are on the ticket's timeline.",
            default_mail=True,
            order=45,
        )
    )
    event_kinds.register(
        EventKind(name=RATED, label="Rated", template="portal/events/rated.html", is_public=True)
    )
    event_kinds.register(
        EventKind(
            name=LINKS_RESET,
            label="Portal links reset",
            template="portal/events/links_reset.html",
            is_public=False,
        )
    )
    ticket_panels.register(
        TicketPanel(
            name="tickets.portal_links",
            template="portal/panels/links.html",
            loader=_links_panel,
            order=60,
        )
    )
    demo_seeders.register(DemoSeeder(name="tickets.portal", seed=portal_demo_seed, order=90))
    queue_figures.register(
        QueueFigure(name="tickets.csat", template="portal/panels/csat.html", loader=_csat_figure)
    )
    settings_sections.register(
        SettingsSection(
            name="tickets.portal",
            title="Customer portal",
            description="Language, reopening and ratings of the portal customers see.",
            url_name="tickets:portal_settings",
            order=35,
        )
    )
