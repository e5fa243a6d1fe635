"""Writes of the webhook feature: admins' changes to webhooks (recorded in
the audit log) and each delivery's life (recorded, claimed, attempted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from helpdesk import netguard
from helpdesk.handover import publish_quietly
from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record
from helpdesk.tenancy import current_tenant, tenant_memo
from helpdesk.tenant_work import work_due

from ..models import Event, Webhook, WebhookAttempt, WebhookDelivery
from . import payloads, sender

# The control-plane mark (helpdesk.tenant_work) of tenants with deliveries due.
WEBHOOKS_WORK = "webhooks"
WEBHOOK_FIELDS = ("name", "url", "format", "events", "is_active")
ERROR_LENGTH = 2000


def claim_seconds() -> int:
    """How long a worker holds a delivery while it posts: past the post's
    timeout and the task's hard time limit, so only a lost worker's is retaken."""
    return 3 * settings.WEBHOOK_TIMEOUT_SECONDS + 60


def retry_delay(attempts: int) -> int:
    """Seconds to wait after a delivery's `attempts`-th failed try."""
    base, longest = settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS
    return min(longest, base * 2 ** min(attempts - 1, 30))


# ------------------------------------------------------------- admins


def _require_admin(actor) -> None:
    require_role(actor, Membership.Role.ADMIN, "Only admins change webhooks.")


def _check(webhook: Webhook, *, check_host: bool) -> None:
    webhook.name = webhook.name.strip()
    webhook.url = webhook.url.strip()
    if not webhook.name:
        raise ValidationError({"name": "Give the webhook a name."})
    unknown = set(webhook.events) - set(Webhook.EventName.values)
    if unknown:
        raise ValidationError({"events": "Unknown events: " + ", ".join(sorted(unknown))})
    if not webhook.events:
        raise ValidationError({"events": "Choose at least one event to send."})
    webhook.events = [name for name in Webhook.EventName.values if name in webhook.events]
    if webhook.format not in Webhook.Format.values:
        raise ValidationError({"format": "Unknown format."})
    try:
        _, host, port, _ = sender.target_parts(webhook.url)
    except sender.BadTarget as exc:
        raise ValidationError({"url": str(exc)}) from None
    if Webhook.objects.filter(name=webhook.name).exclude(pk=webhook.pk).exists():
        raise ValidationError({"name": f"There is already a webhook called {webhook.name}."})
    if check_host:
        # Said here so the admin hears it at once; every post checks again
        # when it connects, since DNS answers change.
        try:
            netguard.resolve(host, port)
        except netguard.HostRefused as exc:
            raise ValidationError({"url": str(exc)}) from None


def _audit(actor, action: str, webhook: Webhook, summary: str, detail: dict | None = None):
    # Every change passes here: what the tenant's webhooks ask for is read
    # afresh for the events recorded after it (tickets.webhooks.handlers).
    tenant_memo().pop("tickets.webhooks.wanted", None)
    audit_record(
        actor=actor,
        action=f"webhook.{action}",
        target_type="webhook",
        target_id=webhook.pk,
        summary=summary,
        detail=detail,
    )


def _described(webhook: Webhook) -> dict:
    return {field: getattr(webhook, field) for field in WEBHOOK_FIELDS}


@transaction.atomic
def webhook_create(*, actor, **fields) -> tuple[Webhook, str]:
    """Add a webhook; returns it and its new secret."""
    _require_admin(actor)
    webhook = Webhook(tenant=current_tenant(), **fields)
    secret = sender.new_secret()
    webhook.secret = secret
    _check(webhook, check_host=True)
    webhook.save()
    _audit(
        actor, "create", webhook, f"Added webhook {webhook.name}", {"after": _described(webhook)}
    )
    return webhook, secret


@transaction.atomic
def webhook_update(*, webhook: Webhook, actor, **fields) -> Webhook:
    """Change a webhook's name, URL, format, events or whether it is on."""
    _require_admin(actor)
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"not a webhook field: {', '.join(sorted(unknown))}")
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _described(webhook)
    for name, value in fields.items():
        setattr(webhook, name, value)
    _check(webhook, check_host=webhook.url != before["url"])
    after = _described(webhook)
    if after == before:
        return webhook
    webhook.save()
    changed = {k: {"before": before[k], "after": after[k]} for k in after if after[k] != before[k]}
    _audit(actor, "update", webhook, f"Changed webhook {webhook.name}", {"changes": changed})
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor) -> None:
    """Remove a webhook with its deliveries and log (the audit log keeps what it was)."""
    _require_admin(actor)
    _audit(
        actor, "delete", webhook, f"Removed webhook {webhook.name}", {"before": _described(webhook)}
    )
    webhook.delete()


@transaction.atomic
def webhook_new_secret(*, webhook: Webhook, actor) -> str:
    """Replace a webhook's secret; posts are signed with the new one at once."""
    _require_admin(actor)
    secret = sender.new_secret()
    webhook.secret = secret
    webhook.save(update_fields=["secret_encrypted", "updated_at"])
    _audit(actor, "new_secret", webhook, f"Made a new secret for webhook {webhook.name}")
    return secret


def webhook_secret_shown(*, webhook: Webhook, actor) -> str:
    """An admin looks at a webhook's secret again (recorded)."""
    _require_admin(actor)
    _audit(actor, "secret_shown", webhook, f"Looked at the secret of webhook {webhook.name}")
    return webhook.secret


# ------------------------------------------------------------- deliveries


def _hand_over(delivery: WebhookDelivery, countdown: int | None = None) -> None:
    from .tasks import deliver_webhook

    kwargs = {"tenant_id": delivery.tenant_id, "delivery_id": delivery.pk}
    transaction.on_commit(
        lambda: publish_quietly(
            "webhook delivery", deliver_webhook.apply_async, kwargs=kwargs, countdown=countdown
        ),
        robust=True,
    )


def deliveries_record(*, event: Event) -> list[WebhookDelivery]:
    """Write a delivery of `event` for each active webhook that asked for it
    (once: a rerun finds them) and hand the new ones to their task after commit."""
    event_name = payloads.event_name_for(event)
    if event_name is None:
        return []
    webhooks = list(Webhook.objects.filter(is_active=True, events__contains=[event_name]))
    if not webhooks:
        return []
    payload = payloads.payload_for_event(event, event_name)
    now = timezone.now()
    made = []
    for webhook in webhooks:
        delivery = WebhookDelivery(
            tenant_id=event.tenant_id,
            webhook=webhook,
            event=event,
            event_name=event_name,
            summary=payload.summary,
            next_attempt_at=now,
            created_at=now,
        )
        delivery.body = payload.body(format=webhook.format, delivery_id=str(delivery.public_id))
        made.append(delivery)
    created = WebhookDelivery.objects.bulk_create(made, ignore_conflicts=True)
    # ignore_conflicts gives no ids back: read the ones this run wrote.
    fresh = list(
        WebhookDelivery.objects.filter(event=event, public_id__in=[d.public_id for d in created])
    )
    if fresh:
        work_due(kind=WEBHOOKS_WORK, at=now)
        for delivery in fresh:
            _hand_over(delivery)
    return fresh


@dataclass(frozen=True)
class DeliveryJob:
    """A claimed delivery, with all its post needs (read inside the tenant)."""

    delivery_id: int
    webhook_id: int
    public_id: str
    event_name: str
    url: str
    body: str
    secret: str
    attempt: int


def delivery_claim(*, delivery_id: int) -> DeliveryJob | None:
    """Take a pending delivery whose try is due, for one post; None when it
    is not due, delivered, given up or held by another worker. The claim
    counts as an attempt, so a worker lost mid-post still uses one up."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .exclude(claimed_until__gt=now)
        .update(
            claimed_until=now + timedelta(seconds=claim_seconds()),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.is_active:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.claimed_until = delivery.next_attempt_at = None
        delivery.last_error = "Not sent: the webhook was turned off."
        delivery.save(update_fields=["status", "claimed_until", "next_attempt_at", "last_error"])
        return None
    return DeliveryJob(
        delivery_id=delivery.pk,
        webhook_id=webhook.pk,
        public_id=str(delivery.public_id),
        event_name=delivery.event_name,
        url=webhook.url,
        body=delivery.body,
        secret=webhook.secret,
        attempt=delivery.attempts,
    )


def delivery_post(job: DeliveryJob) -> sender.PostResult:
    """The post itself: outside any transaction (it may take the whole timeout)."""
    return sender.post(
        url=job.url,
        body=job.body,
        secret=job.secret,
        headers={"X-Helpdesk-Event": job.event_name, "X-Helpdesk-Delivery": job.public_id},
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )


def delivery_attempt_record(*, job: DeliveryJob, result: sender.PostResult, started_at) -> str:
    """Log the try and settle the delivery: delivered, retried after its
    backoff, or given up after WEBHOOK_MAX_ATTEMPTS tries."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=job.delivery_id).first()
    if delivery is None:
        return "the webhook was removed meanwhile"
    WebhookAttempt.objects.create(
        tenant_id=delivery.tenant_id,
        webhook_id=job.webhook_id,
        delivery=delivery,
        number=job.attempt,
        started_at=started_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        succeeded=result.ok,
        error=result.error[:ERROR_LENGTH],
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:ERROR_LENGTH]
    delivery.claimed_until = None
    if result.ok:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        outcome = "delivered"
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
        outcome = "given up"
    else:
        wait = retry_delay(delivery.attempts)
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        work_due(kind=WEBHOOKS_WORK, at=delivery.next_attempt_at)
        _hand_over(delivery, countdown=wait)
        outcome = f"retry in {wait} s"
    delivery.save()
    return outcome


def webhook_send_test(*, webhook: Webhook, actor) -> WebhookAttempt:
    """Post a test to a webhook now, whatever events it takes, and log it.
    Sent once, not retried: the admin sees the answer at once."""
    _require_admin(actor)
    payload = payloads.payload_for_test(webhook, actor_name=actor.get_full_name() or actor.username)
    now = timezone.now()
    delivery = WebhookDelivery(
        tenant=current_tenant(),
        webhook=webhook,
        event_name="test",
        summary=payload.summary,
        attempts=1,
        created_at=now,
    )
    delivery.body = payload.body(format=webhook.format, delivery_id=str(delivery.public_id))
    job = DeliveryJob(
        delivery_id=0,
        webhook_id=webhook.pk,
        public_id=str(delivery.public_id),
        event_name="test",
        url=webhook.url,
        body=delivery.body,
        secret=webhook.secret,
        attempt=1,
    )
    result = delivery_post(job)
    delivery.status = (
        WebhookDelivery.Status.DELIVERED if result.ok else WebhookDelivery.Status.FAILED
    )
    delivery.delivered_at = timezone.now() if result.ok else None
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:ERROR_LENGTH]
    delivery.save()
    return WebhookAttempt.objects.create(
        tenant=current_tenant(),
        webhook=webhook,
        delivery=delivery,
        number=1,
        started_at=now,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        succeeded=result.ok,
        error=result.error[:ERROR_LENGTH],
    )


def deliveries_sweep(*, batch_size: int = 500) -> int:
    """Hand over the current tenant's deliveries whose try is overdue by a
    claim's length (their task was lost, or their worker died mid-post)."""
    from helpdesk.tenant_work import work_sweep_claim, work_sweep_next

    if not work_sweep_claim(kind=WEBHOOKS_WORK):
        return 0
    now = timezone.now()
    grace = timedelta(seconds=claim_seconds())
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    overdue = list(
        pending.filter(next_attempt_at__lte=now - grace)
        .exclude(claimed_until__gt=now)
        .order_by("next_attempt_at")[:batch_size]
    )
    for delivery in overdue:
        _hand_over(delivery)
    rest = (
        pending.exclude(pk__in=[d.pk for d in overdue])
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if overdue:
        # Looked at again a grace period from now: sent by then, or lost again.
        rest = now if rest is None else min(rest, now)
    work_sweep_next(kind=WEBHOOKS_WORK, at=rest)
    return len(overdue)
