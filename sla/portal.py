"""The SLA app's block on the customer portal's ticket page: the next
promise in plain words ("We aim to reply by Tue 11:30", "Paused while we
wait for your reply"), registered in tickets.extensions.portal_blocks.

Only the promise reaches the customer: no policy, target kind, percentage,
breach or risk. A promise already missed is not shown as a time in the
past; the customer reads that we reply as soon as we can."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.utils import dateformat, timezone
from django.utils.translation import gettext as _

from tickets.extensions import PortalBlock, portal_blocks
from tickets.models import Contact, Ticket

from .models import TargetKind, TicketTarget

RESPONSE_KINDS = (TargetKind.FIRST_RESPONSE, TargetKind.NEXT_RESPONSE)


def _viewer_zone(contact: Contact, ticket: Ticket) -> zoneinfo.ZoneInfo:
    """The customer's time zone where one is known (a contact carrying a
    valid `time_zone`), else the help desk's."""
    for name in (getattr(contact, "time_zone", ""), ticket.tenant.time_zone):
        try:
            return zoneinfo.ZoneInfo(name or "")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return zoneinfo.ZoneInfo("UTC")


def _when(due, zone, now) -> str:
    """The time and its zone ("Tue 11:30 CET": the customer may be
    elsewhere), and the date too when more than a few days away."""
    local = timezone.localtime(due, zone)
    if local - timezone.localtime(now, zone) < timedelta(days=6):
        return dateformat.format(local, "D H:i T")
    return dateformat.format(local, "D j M, H:i T")


def sla_portal_promise(ticket: Ticket, contact: Contact) -> dict | None:
    """The next promise to the customer (one query), or None: a solved or
    closed ticket, one without targets, or nothing left to promise."""
    if ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        return None
    rows = list(
        TicketTarget.objects.filter(ticket=ticket, met_at__isnull=True).only(
            "kind", "state", "due_at"
        )
    )
    if not rows:
        return None
    if ticket.status == Ticket.Status.PENDING:
        if any(row.state == TicketTarget.State.PAUSED for row in rows):
            return {"promise": _("Paused while we wait for your reply.")}
        return None
    if ticket.status == Ticket.Status.ON_HOLD:
        return None  # the status says it; no time we could honestly give
    now = timezone.now()
    zone = _viewer_zone(contact, ticket)
    by_kind = {row.kind: row for row in rows if row.state != TicketTarget.State.PAUSED}
    for kinds, timed, late in (
        (RESPONSE_KINDS, _("We aim to reply by %(when)s."), _("We will reply as soon as we can.")),
        (
            (TargetKind.RESOLUTION,),
            _("We aim to solve this by %(when)s."),
            _("We are working on it and will solve it as soon as we can."),
        ),
    ):
        row = next((by_kind[kind] for kind in kinds if kind in by_kind), None)
        if row is None or row.due_at is None:
            continue
        if row.due_at <= now:
            return {"promise": late}
        return {
            "promise": timed % {"when": _when(row.due_at, zone, now)},
            "due_at": row.due_at,
        }
    return None


def register_sla_portal_block() -> None:
    """Called once, from SlaConfig.ready()."""
    portal_blocks.register(
        PortalBlock(
            name="sla.next_promise",
            template="sla/portal_promise.html",
            loader=sla_portal_promise,
            order=10,
        )
    )
