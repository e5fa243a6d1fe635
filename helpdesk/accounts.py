"""Accounts: password reset by mail with Django's own views, throttled.

The answer is the same for a known and an unknown address, and for a
request over the limit: "if the address is ours, a mail is on its way".
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.urls import reverse_lazy

from .proxies import client_ip
from .ratelimit import sliding_window_hit

logger = logging.getLogger(__name__)


def password_reset_allowed(*, email: str, ip: str) -> bool:
    """Count one reset request for the address and the client; False when
    either has asked too often in the window."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return sliding_window_hit(
        {
            f"ratelimit:pwreset:address:{digest}": settings.PASSWORD_RESET_MAX_PER_ADDRESS,
            f"ratelimit:pwreset:ip:{ip}": settings.PASSWORD_RESET_MAX_PER_IP,
        },
        window_seconds=settings.PASSWORD_RESET_WINDOW_SECONDS,
        what="password reset limit not counted",
    )


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "helpdesk/accounts/password_reset_form.html"
    email_template_name = "helpdesk/email/password_reset.txt"
    subject_template_name = "helpdesk/email/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        if not password_reset_allowed(email=form.cleaned_data["email"], ip=client_ip(self.request)):
            # Nothing sent, and nothing in the answer says so.
            logger.info("password reset refused: too many requests")
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "helpdesk/accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "helpdesk/accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "helpdesk/accounts/password_reset_complete.html"


# ---------------------------------------------------------------- sessions


def session_signed_in(sender, request, user, **kwargs) -> None:
    """Receiver of user_logged_in: remember the session under its user."""
    from .models import UserSession

    if request is None or not getattr(request, "session", None):
        return
    if request.session.session_key is None:
        request.session.save()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "ip_address": client_ip(request)[:45],
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        },
    )


def sessions_of(user) -> list:
    """The user's sessions that still work, newest first (expired and ended ones are dropped)."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from .models import UserSession

    rows = list(UserSession.objects.filter(user=user).order_by("-created_at"))
    alive = set(
        Session.objects.filter(
            session_key__in=[row.session_key for row in rows], expire_date__gt=timezone.now()
        ).values_list("session_key", flat=True)
    )
    gone = [row.pk for row in rows if row.session_key not in alive]
    if gone:
        UserSession.objects.filter(pk__in=gone).delete()
    return [row for row in rows if row.session_key in alive]


def sessions_end_all(user) -> int:
    """Sign the user out everywhere: every session of theirs is deleted."""
    from django.contrib.sessions.models import Session

    from .models import UserSession

    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    return len(keys)
