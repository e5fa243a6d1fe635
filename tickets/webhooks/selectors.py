"""Reads of the webhook settings pages."""

from django.db.models import OuterRef, QuerySet, Subquery

from ..models import Webhook, WebhookAttempt

LOG_PAGE_SIZE = 50


def webhooks_with_last_attempt() -> QuerySet:
    """The tenant's webhooks, each with its latest attempt's outcome (one
    query; each subquery reads webhookattempt_log_idx)."""
    latest = WebhookAttempt.objects.filter(webhook=OuterRef("pk")).order_by("-id")
    return Webhook.objects.annotate(
        last_succeeded=Subquery(latest.values("succeeded")[:1]),
        last_status_code=Subquery(latest.values("status_code")[:1]),
        last_attempt_at=Subquery(latest.values("started_at")[:1]),
    ).order_by("name", "id")


def delivery_log(*, webhook: Webhook, before: int | None = None) -> tuple[list, int | None]:
    """A page of the webhook's attempts, newest first, from before the
    attempt id `before` (keyset, index webhookattempt_log_idx), and the id
    to ask for the next page with (None on the last)."""
    attempts = WebhookAttempt.objects.filter(webhook=webhook)
    if before is not None:
        attempts = attempts.filter(id__lt=before)
    page = list(attempts.select_related("delivery").order_by("-id")[: LOG_PAGE_SIZE + 1])
    more = len(page) > LOG_PAGE_SIZE
    page = page[:LOG_PAGE_SIZE]
    return page, (page[-1].pk if more else None)
