"""Sign-in throttling: django-axes, with a limit per account and one per address.

Axes keeps failed attempts in its own tables (Postgres, so a lock holds
across processes and restarts and needs no Redis). They are control-plane
rows, like Tenant and Membership: a sign-in happens before any tenant is
known, so they are not tenant-owned and row-level security leaves them alone.
"""

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from helpdesk.proxies import client_ip


def client_address(request) -> str | None:
    """The client's address: the peer that connected, or behind
    TRUSTED_PROXY_HOPS proxies of ours the address the outermost one saw
    (helpdesk/proxies.py; X-Forwarded-For is never read otherwise)."""
    return client_ip(request) or None


class SigninAttemptHandler(AxesDatabaseHandler):
    """Axes counts every lockout parameter against one limit; here an account
    (SIGNIN_FAILURES_PER_ACCOUNT) and an address (SIGNIN_FAILURES_PER_ADDRESS)
    each have their own, since many people may sign in from one office address.

    Relies on AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"], in that order.
    """

    def failures(self, request, credentials=None) -> tuple[dict, dict]:
        """For the account and for the address: the failures that count now
        and when the latest of them was made."""
        by_account, by_address = self.get_user_attempts(request, credentials)
        return tuple(
            attempts.aggregate(count=Sum("failures_since_start"), latest=Max("attempt_time"))
            for attempts in (by_account, by_address)
        )

    def get_failures(self, request, credentials=None) -> int:
        account, address = self.failures(request, credentials)
        count = account["count"] or 0
        # Axes compares this one number with AXES_FAILURE_LIMIT, the account's
        # limit: an address past its own limit counts as at that limit.
        if (address["count"] or 0) >= settings.SIGNIN_FAILURES_PER_ADDRESS:
            return max(count, settings.SIGNIN_FAILURES_PER_ACCOUNT)
        return count

    def reset_user_attempts(self, request, credentials=None) -> int:
        # After a successful sign-in, only that account's failures go: clearing
        # the address's too would let anyone with one account reset the count
        # of the address they guess other accounts' passwords from.
        by_account, _ = self.filter_user_attempts(request, credentials)
        count, _ = by_account.delete()
        return count


def lockout_message(request, credentials) -> str:
    """What the sign-in page says while sign-in is locked."""
    handler = AxesProxyHandler.get_implementation()
    what, latest = "this account", None
    if isinstance(handler, SigninAttemptHandler):
        account, address = handler.failures(request, credentials)
        latest = account["latest"]
        if (account["count"] or 0) < settings.SIGNIN_FAILURES_PER_ACCOUNT:
            what, latest = "this address", address["latest"]
    minutes = settings.SIGNIN_LOCKOUT_MINUTES
    if latest is not None:
        # Failures made while locked are not counted, so the lock ends this
        # long after the last failure that was.
        left = latest + settings.AXES_COOLOFF_TIME - timezone.now()
        minutes = max(1, min(minutes, math.ceil(left.total_seconds() / 60)))
    return (
        f"Too many failed attempts: sign-in is locked for {what} for {minutes} "
        f"minute{'s' if minutes != 1 else ''}. An administrator can unlock it sooner."
    )


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """The sign-in form again (the site's or the admin's), with the lockout as
    its only error and status 429: the password was never checked, so the
    form's "wrong password" message would mislead."""
    message = lockout_message(request, credentials)
    status = settings.AXES_HTTP_RESPONSE_CODE
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if not isinstance(original_response, TemplateResponse) or form is None:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    form.errors.clear()
    form.add_error(None, message)
    original_response.content = original_response.rendered_content
    original_response.status_code = status
    return original_response
