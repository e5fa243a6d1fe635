"""Who is around: an agent's last activity (a cheap request hook, written at
most once a minute) and the sweep that sets idle online agents to away.
An agent set away by the sweep comes back online with their next action."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models import Min, Q
from django.utils import timezone

from helpdesk.tenancy import current_tenant, tenant_context
from helpdesk.tenant_work import work_due

from .. import selectors
from ..models import AgentStatus

logger = logging.getLogger(__name__)

IDLE_WORK = "dispatch_idle"
# Activity is written at most this often per agent and help desk.
SEEN_EVERY_SECONDS = 60
Availability = AgentStatus.Availability


def _is_activity(request) -> bool:
    # Live refreshes and the bell poll on their own (htmx GETs): they say
    # a tab is open, not that someone is there. Pages and actions do.
    return not (request.method == "GET" and request.headers.get("HX-Request"))


def agent_seen(request) -> None:
    """Request hook (helpdesk.extensions.request_hooks): note that the member
    is active. Costs the request one Redis command; the database is written
    at most once a minute per agent, after the page's own transaction
    commits (in a short one of its own), so the page's queries stay its own."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not _is_activity(request):
        return
    tenant = current_tenant()
    key = f"dispatch:seen:{tenant.pk}:{user.pk}"
    try:
        if not cache.add(key, 1, timeout=SEEN_EVERY_SECONDS):
            return
    except Exception:
        # Redis is down: availability is a convenience, never a failed page.
        logger.warning("last activity of user %s not noted (cache down)", user.pk)
        return
    user_id = user.pk

    def note() -> None:
        try:
            with tenant_context(tenant):
                agent_activity_note(user_id=user_id)
        except DatabaseError:
            logger.exception("last activity of user %s not noted", user_id)

    transaction.on_commit(note)


@transaction.atomic
def agent_activity_note(*, user_id: int) -> bool:
    """The agent did something: their last-seen time moves; an agent the
    idle sweep set away is online again (and gets waiting tickets). True
    when they came back."""
    now = timezone.now()
    back = AgentStatus.objects.filter(
        user_id=user_id, availability=Availability.AWAY, idle_away=True
    ).update(availability=Availability.ONLINE, idle_away=False, last_seen_at=now, changed_at=now)
    if back:
        from .settings import _after_room

        _idle_check_due(now)
        _after_room(user_id)
        return True
    AgentStatus.objects.filter(user_id=user_id).update(last_seen_at=now)
    return False


def _idle_check_due(now) -> None:
    minutes = selectors.dispatch_settings().away_after_minutes
    if minutes:
        work_due(kind=IDLE_WORK, at=now + timedelta(minutes=minutes))


def idle_agents_away() -> tuple[int, object]:
    """The tenant's idle sweep: online agents with no activity for the
    tenant's minutes become away. Returns how many, and when the next
    check is due (None: nobody is online, or the tenant turned it off)."""
    minutes = selectors.dispatch_settings().away_after_minutes
    if not minutes:
        return 0, None
    now = timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    online = AgentStatus.objects.filter(availability=Availability.ONLINE)
    idle = Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, changed_at__lt=cutoff)
    flipped = online.filter(idle).update(
        availability=Availability.AWAY, idle_away=True, changed_at=now
    )
    oldest = online.aggregate(at=Min("last_seen_at"))["at"]
    if oldest is None and online.exists():
        oldest = now
    return flipped, (oldest + timedelta(minutes=minutes) if oldest else None)


def idle_watch(tenant_now=None) -> None:
    """An agent went online: the idle sweep looks at the tenant in time."""
    _idle_check_due(tenant_now or timezone.now())


__all__ = ["IDLE_WORK", "agent_activity_note", "agent_seen", "idle_agents_away", "idle_watch"]
