"""Notifications: what a member hears about, in the app (the bell and the
list) and by mail (a digest at most every NOTIFICATION_MAIL_MINUTES).

The kinds are a registry (`helpdesk.extensions.notification_kinds`); each
member chooses per kind and channel (`NotificationPreference`, no row: the
kind's defaults). Apps create notifications with `notification_create`,
usually from ticket event handlers (tickets/notifications.py), which also
sends the digests: mail goes out through the tickets app's outgoing mail,
which this app may not import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .extensions import NotificationKind, notification_kinds
from .models import Membership, Notification, NotificationDigestState, NotificationPreference
from .tenancy import current_tenant
from .tenant_work import work_due

# The control-plane mark (helpdesk.tenant_work) of tenants with digests to send.
DIGEST_WORK = "notification_mail"
# The bell shows at most this, then "99+": the count never reads more rows.
UNREAD_CAP = 99
PAGE_SIZE = 50


@dataclass(frozen=True)
class Choice:
    kind: NotificationKind
    in_app: bool
    mail: bool


def notification_choices(*, user) -> list[Choice]:
    """Every registered kind with the user's choice in the current tenant
    (their own, else the kind's defaults), in order. One query."""
    saved = {pref.kind: pref for pref in NotificationPreference.objects.filter(user_id=user.pk)}
    choices = []
    for kind in notification_kinds:
        pref = saved.get(kind.name)
        if pref is None:
            choices.append(Choice(kind, kind.default_in_app, kind.default_mail))
        else:
            choices.append(Choice(kind, pref.in_app, pref.mail))
    return choices


@transaction.atomic
def notification_preferences_save(*, user, choices: dict[str, tuple[bool, bool]]) -> int:
    """Save a member's choices (kind -> (in_app, mail)) in the current
    tenant; returns how many changed. Recorded in the audit log."""
    from .services import audit_record

    unknown = set(choices) - {kind.name for kind in notification_kinds}
    if unknown:
        raise ValidationError(f"Unknown kind of notification: {', '.join(sorted(unknown))}.")
    before = {
        choice.kind.name: (choice.in_app, choice.mail) for choice in notification_choices(user=user)
    }
    changed = {name: value for name, value in choices.items() if before[name] != tuple(value)}
    tenant = current_tenant()
    for name, (in_app, mail) in changed.items():
        NotificationPreference.objects.update_or_create(
            tenant=tenant,
            user_id=user.pk,
            kind=name,
            defaults={"in_app": bool(in_app), "mail": bool(mail)},
        )
    if changed:
        audit_record(
            actor=user,
            action="notifications.preferences",
            target_type="user",
            target_id=user.pk,
            summary=f"{user.get_username()} changed their notification choices",
            detail={
                name: {"before": list(before[name]), "after": list(value)}
                for name, value in changed.items()
            },
        )
    return len(changed)


def notification_create(
    *, user_id: int, text: str, url: str, source_key: str, kind: str | None = None
) -> Notification | None:
    """Notify one member of the current tenant, once per `source_key`, as
    they chose for `kind` (a name in `notification_kinds`): in the app, in
    their next mail digest, both, or not at all (None). Without a kind the
    notification is shown in the app only, whatever the member chose."""
    in_app, mail = True, False
    if kind is not None:
        registered = notification_kinds.get(kind)
        if registered is None:
            raise ValueError(
                f"{kind!r} is not registered in helpdesk.extensions.notification_kinds"
            )
        pref = (
            NotificationPreference.objects.filter(user_id=user_id, kind=kind)
            .values_list("in_app", "mail")
            .first()
        )
        in_app, mail = pref or (registered.default_in_app, registered.default_mail)
        if mail and not _has_address(user_id):
            mail = False
    if not (in_app or mail):
        return None
    tenant = current_tenant()
    notification, created = Notification.objects.get_or_create(
        tenant=tenant,
        user_id=user_id,
        source_key=source_key,
        defaults={
            "kind": kind or "",
            "text": text[:300],
            "url": url,
            "in_app": in_app,
            "mail_pending": mail,
        },
    )
    if created and mail:
        # The digest sweep finds this tenant; it mails when the window allows.
        work_due(kind=DIGEST_WORK, at=timezone.now())
    return notification


def _has_address(user_id: int) -> bool:
    return bool(get_user_model().objects.filter(pk=user_id).exclude(email="").values("pk").first())


def notifications_mark_read(*, user, notification_id: int | None = None) -> int:
    """Mark one (or all) of a user's notifications in the current tenant read."""
    unread = Notification.objects.filter(user_id=user.pk, in_app=True, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())


# ---------------------------------------------------------------- reads


def notifications_unread_count(*, user) -> int:
    """How many unread notifications the bell shows, up to UNREAD_CAP + 1.
    One COUNT over a LIMIT, answered from `notification_unread_idx`."""
    return (
        Notification.objects.filter(user_id=user.pk, in_app=True, read_at__isnull=True)
        .order_by()
        .values("pk")[: UNREAD_CAP + 1]
        .count()
    )


def notifications_page(
    *, user, after: tuple[datetime, int] | None = None, size: int = PAGE_SIZE
) -> tuple[list[Notification], tuple[datetime, int] | None]:
    """A page of the user's notifications, newest first, after the keyset
    `after` (created_at, id) of the previous page; and the next page's keyset."""
    rows = Notification.objects.filter(user_id=user.pk, in_app=True).order_by("-created_at", "-pk")
    if after is not None:
        at, pk = after
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    page = list(rows[: size + 1])
    more = len(page) > size
    page = page[:size]
    return page, ((page[-1].created_at, page[-1].pk) if more else None)


# ---------------------------------------------------------------- digests


@dataclass(frozen=True)
class PendingDigest:
    user_id: int
    due_at: datetime


def digests_pending() -> list[PendingDigest]:
    """Members of the current tenant with notifications waiting for a mail,
    and when each may be mailed: at once, or a window after their last
    digest. Two queries, from `notification_mail_pending_idx`."""
    window = timedelta(minutes=settings.NOTIFICATION_MAIL_MINUTES)
    first: dict[int, datetime] = {}
    for user_id, created_at in (
        Notification.objects.filter(mail_pending=True)
        .order_by("user_id", "created_at")
        .values_list("user_id", "created_at")
    ):
        first.setdefault(user_id, created_at)
    last = dict(
        NotificationDigestState.objects.filter(user_id__in=list(first)).values_list(
            "user_id", "last_sent_at"
        )
    )
    pending = []
    for user_id, created_at in first.items():
        due = created_at if user_id not in last else max(created_at, last[user_id] + window)
        pending.append(PendingDigest(user_id, due))
    return pending


def digest_claim(*, user_id: int, now: datetime) -> list[Notification] | None:
    """Claim the member's next digest: move their `last_sent_at` to `now`
    if a window has passed since the last one (a conditional upsert: a
    second sweep running at the same moment waits for this one's commit,
    then finds the window not passed and gets None). Returns the
    notifications the digest lists, taken off the waiting list, oldest
    first; None when another sweep has it or nothing waits."""
    cutoff = now - timedelta(minutes=settings.NOTIFICATION_MAIL_MINUTES)
    table = NotificationDigestState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, user_id, last_sent_at) VALUES (%s, %s, %s)"
            f" ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_sent_at = EXCLUDED.last_sent_at"
            f" WHERE {table}.last_sent_at <= %s RETURNING id",
            [current_tenant().pk, user_id, now, cutoff],
        )
        if cursor.fetchone() is None:
            return None
    waiting = list(
        Notification.objects.filter(user_id=user_id, mail_pending=True)
        .select_for_update()
        .order_by("created_at", "pk")
    )
    if not waiting:
        return None
    Notification.objects.filter(pk__in=[n.pk for n in waiting]).update(
        mail_pending=False, mailed_at=now
    )
    return waiting


def member_handles(*, tenant=None) -> dict[str, int]:
    """Every active member's @handles in a tenant (default: the current
    one): the username, and a display-name handle ("pat.lee") where no
    other member has the same one. Lower case; handle -> user id."""
    tenant = tenant or current_tenant()
    members = Membership.objects.filter(tenant=tenant, user__is_active=True).values_list(
        "user_id", "user__username", "user__first_name", "user__last_name"
    )
    by_username: dict[str, int] = {}
    by_name: dict[str, set[int]] = {}
    for user_id, username, first, last in members:
        by_username[username.lower()] = user_id
        handle = display_handle(first, last)
        if handle:
            by_name.setdefault(handle, set()).add(user_id)
    handles = {name: ids.pop() for name, ids in by_name.items() if len(ids) == 1}
    handles.update(by_username)  # a username always wins
    return handles


def display_handle(first: str, last: str) -> str:
    """The handle a display name gives: "Pat Lee" -> "pat.lee"."""
    words = f"{first} {last}".lower().split()
    return ".".join("".join(ch for ch in word if ch.isalnum()) for word in words if word).strip(".")


def members_matching(*, query: str, limit: int = 8) -> list[dict]:
    """Active members of the current tenant whose username or name starts
    with `query` (for @mention completion): username, name, handle."""
    query = query.strip().lstrip("@")[:60]
    members = Membership.objects.filter(tenant=current_tenant(), user__is_active=True)
    if query:
        members = members.filter(
            Q(user__username__istartswith=query)
            | Q(user__first_name__istartswith=query)
            | Q(user__last_name__istartswith=query)
        )
    rows = members.order_by("user__first_name", "user__last_name", "user__username").values_list(
        "user__username", "user__first_name", "user__last_name"
    )[:limit]
    return [
        {
            "username": username,
            "name": f"{first} {last}".strip() or username,
        }
        for username, first, last in rows
    ]
