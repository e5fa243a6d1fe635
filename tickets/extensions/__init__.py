"""Extension points of the tickets app: where higher apps (dispatch, SLA,
knowledge, reports) add to its pages without `tickets` importing them.

A higher app registers into these registries from its `AppConfig.ready()`
(see `helpdesk.registry`): names are unique (a duplicate is an error at
start-up), items are drawn by `order` (lower first), then name. Registries
hold code, never tenant data: loaders read the current tenant's rows when a
page asks, inside the request's tenant context. The tickets app registers
its own parts the same way (`tickets.extensions.own`).

ticket_panels: `TicketPanel`
    The ticket page's sidebar, below the Details panel, drawn by
    `{% ticket_panels ticket %}` (`{% load ticket_extensions %}`).
    `loader(ticket, request)` returns the panel's context (a dict, merged
    over the page's own, so `tenant`, `request` and `csrf_token` are there
    too), or None to leave the panel out for this ticket. Called once per
    page. The tickets app's own: "tickets.requester" (order 50).

queue_columns: `QueueColumn`
    Extra columns of the queue table, after the built-in ones. `loader(rows)`
    gets the whole page's tickets (a list, possibly of 1) and returns
    {ticket_id: value}; it is called ONCE per page, so it must answer with a
    fixed number of queries (one, typically `...filter(ticket__in=rows)`),
    never one per row. It is not called for an empty page. Each cell is
    drawn with `template` (context: `ticket`, `value`, `item`) or
    `formatter(value) -> str` (escaped unless marked safe); a ticket the
    loader left out has the value None.

queue_badges: `QueueBadge`
    Small marks beside a ticket's subject on queue rows and on board
    cards. Same loader contract as columns (once per page, the board's
    cards of every column together); a ticket the loader left out or
    mapped to None (or False or "") gets no badge.

event_kinds: `EventKind`
    Every kind an `Event` may have. `tickets.events` refuses to record a
    kind that is not registered (`UnregisteredEventKind`); `is_public` is
    the event's default when the recording service does not say. The
    timeline draws each event with its kind's `template` (context: `event`,
    `event_kind`; most extend "tickets/events/change.html" and fill its
    `what` block); a stored kind whose app is gone is drawn by
    `UNKNOWN_EVENT_TEMPLATE`, never an error.

queue_filters: `QueueFilter`
    Extra filters of the queues' filter form, after the built-in ones and
    before the order: a choice field named `name` (its query-string key;
    lower-case letters, digits and "_", and not one of the form's own
    fields), labelled `label`, with `choices` [(value, words)] after
    `any_label` (the empty choice: no filtering). `narrow(value)` returns
    the condition on `Ticket` rows for a chosen value, as a `Q` (typically
    `Q(Exists(...))` on the app's own table by `ticket_id`): the queue
    page, the ticket page's previous/next and saved views apply it the
    same way, inside the tenant's scope. It is part of the queue's one
    query, so it must be served by a tenant-first index of its app.

queue_figures: `QueueFigure`
    Small figures in a queue page's head, beside its title (full page only,
    not its refreshes), drawn by `{% queue_figures queue %}`.
    `loader(queue, request)` returns the figure's context, or None to leave
    it out for this queue and member; called once per page, so at most one
    query. The portal's own: "tickets.csat" (the member's CSAT on "Mine").

portal_blocks: `PortalBlock`
    Parts of a ticket's page in the customer portal (tickets/portal), in
    its head below the status, drawn by `{% portal_blocks ticket contact %}`.
    `loader(ticket, contact)` returns the block's context or None to leave
    it out; `contact` is whoever opened the page (signed in, or the holder
    of the link: for a CC with no contact row an unsaved Contact), so a
    block may use their time zone or language. Only what a customer may
    see belongs here: the SLA app's "next promise" goes here.

system_actors: `SystemActor`
    The systems that change tickets through `ticket_system_update` (or
    `tickets_system_due_update`, many deadlines at once) ("sla",
    "dispatch"), with the name people read on the timeline, in a conflict
    message and in a notification ("Routing").

Settings pages are a registry of the core app: `helpdesk.extensions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helpdesk.registry import Registry

if TYPE_CHECKING:
    from django.db.models import Q
    from django.http import HttpRequest

    from ..models import Contact, Ticket

# Drawn for an event whose kind is not registered (any more).
UNKNOWN_EVENT_TEMPLATE = "tickets/events/unknown.html"
EVENT_KIND_MAX_LENGTH = 40
SYSTEM_ACTOR_MAX_LENGTH = 40


@dataclass(frozen=True)
class TicketPanel:
    name: str
    template: str
    loader: Callable[[Ticket, HttpRequest], dict | None]
    order: int = 100


def _one_way_to_draw(item) -> None:
    if bool(item.template) == (item.formatter is not None):
        raise ValueError(f"{item.name}: give a template or a formatter, not both or neither")


@dataclass(frozen=True)
class QueueColumn:
    name: str
    header: str
    loader: Callable[[Sequence[Ticket]], Mapping[int, Any]]
    template: str = ""
    formatter: Callable[[Any], str] | None = None
    order: int = 100

    def __post_init__(self) -> None:
        _one_way_to_draw(self)


@dataclass(frozen=True)
class QueueBadge:
    name: str
    # What the badge is about, for its title (and screen readers).
    label: str
    loader: Callable[[Sequence[Ticket]], Mapping[int, Any]]
    template: str = ""
    formatter: Callable[[Any], str] | None = None
    order: int = 100

    def __post_init__(self) -> None:
        _one_way_to_draw(self)


@dataclass(frozen=True)
class EventKind:
    name: str
    label: str
    template: str
    is_public: bool = True
    order: int = 100

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= EVENT_KIND_MAX_LENGTH:
            raise ValueError(f"an event kind's name has 1 to {EVENT_KIND_MAX_LENGTH} characters")


QUEUE_FILTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class QueueFilter:
    name: str
    label: str
    choices: tuple[tuple[str, str], ...]
    narrow: Callable[[str], Q]
    any_label: str = "Any"
    order: int = 100

    def __post_init__(self) -> None:
        if not QUEUE_FILTER_NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r}: a queue filter's name is a query-string key")


@dataclass(frozen=True)
class QueueFigure:
    name: str
    template: str
    loader: Callable[[Any, HttpRequest], dict | None]
    order: int = 100


@dataclass(frozen=True)
class PortalBlock:
    name: str
    template: str
    loader: Callable[[Ticket, Contact], dict | None]
    order: int = 100


@dataclass(frozen=True)
class SystemActor:
    name: str
    label: str
    order: int = 100

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= SYSTEM_ACTOR_MAX_LENGTH:
            raise ValueError(f"a system's name has 1 to {SYSTEM_ACTOR_MAX_LENGTH} characters")


ticket_panels: Registry[TicketPanel] = Registry("ticket_panels", TicketPanel)
queue_columns: Registry[QueueColumn] = Registry("queue_columns", QueueColumn)
queue_badges: Registry[QueueBadge] = Registry("queue_badges", QueueBadge)
event_kinds: Registry[EventKind] = Registry("event_kinds", EventKind)
queue_filters: Registry[QueueFilter] = Registry("queue_filters", QueueFilter)
queue_figures: Registry[QueueFigure] = Registry("queue_figures", QueueFigure)
portal_blocks: Registry[PortalBlock] = Registry("portal_blocks", PortalBlock)
system_actors: Registry[SystemActor] = Registry("system_actors", SystemActor)


class UnregisteredEventKind(ValueError):
    """An event of a kind no app registered: a programming error."""


def event_kind_get(kind: str) -> EventKind:
    registered = event_kinds.get(kind)
    if registered is None:
        raise UnregisteredEventKind(
            f"event kind {kind!r} is not registered in tickets.extensions.event_kinds"
        )
    return registered


def system_actor_label(name: str) -> str:
    """What people read for a system: its label, or its name if its app is gone."""
    actor = system_actors.get(name)
    return actor.label if actor else name


def _page_values(item, rows: Sequence[Ticket]) -> Mapping[int, Any]:
    values = item.loader(rows)
    if not isinstance(values, Mapping):
        raise TypeError(f"{item.name}: the loader returns {{ticket_id: value}}, not {values!r}")
    return values


def rows_with_extension_values(
    rows: Sequence[Ticket], *, columns: bool = True, badges: bool = True
) -> Sequence[Ticket]:
    """Set `extension_cells` ([(column, value)]) and `extension_badges`
    ([(badge, value)], only those to draw) on each ticket of a page:
    each registered loader is called once for the whole page."""
    cells = {ticket.pk: [] for ticket in rows}
    shown = {ticket.pk: [] for ticket in rows}
    if rows:
        for column in queue_columns if columns else ():
            values = _page_values(column, rows)
            for ticket in rows:
                cells[ticket.pk].append((column, values.get(ticket.pk)))
        for badge in queue_badges if badges else ():
            values = _page_values(badge, rows)
            for ticket in rows:
                value = values.get(ticket.pk)
                if value is not None and value is not False and value != "":
                    shown[ticket.pk].append((badge, value))
    for ticket in rows:
        ticket.extension_cells = cells[ticket.pk]
        ticket.extension_badges = shown[ticket.pk]
    return rows
