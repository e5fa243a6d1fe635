import json
import logging
import sys
from datetime import UTC, datetime, timedelta

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import notifications, services
from ..forms import ApiKeyForm
from ..models import ApiKey, Membership, Notification
from ..parsing import parse_id
from ..permissions import role_required


@require_GET
def home(request):
    """Send a user to their help desk, or let them choose one."""
    if not request.user.is_authenticated:
        return redirect("login")
    memberships = list(
        Membership.objects.filter(user=request.user, is_active=True).select_related("tenant")
    )
    if len(memberships) == 1:
        return redirect("tickets:home", memberships[0].tenant.slug)
    return render(request, "helpdesk/choose_tenant.html", {"memberships": memberships})


# How long a client is asked to wait before trying again when the database is down.
DATABASE_DOWN_RETRY_AFTER = 30


def server_error(request):
    """The 500 handler: a request that failed because the database could not
    be reached (or dropped the connection) answers 503 with Retry-After, so
    mail relays and API clients retry it; anything else is a plain 500.

    Nothing here may query the database. Django logs the exception either way.
    """
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        text = "The database cannot be reached just now. Try again shortly."
        response = JsonResponse({"errors": {"detail": [text]}}, status=503)
    else:
        body = loader.get_template("503.html").render()
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(DATABASE_DOWN_RETRY_AFTER)
    # Nothing on the page can be clicked: framing it (the web form is framed) is harmless.
    response.xframe_options_exempt = True
    return response


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@require_POST
def keyboard_shortcuts(request, tenant_slug):
    """A member turns their single-key shortcuts on or off, and goes back where they were."""
    enabled = request.POST.get("enabled") == "1"
    services.membership_set_keyboard_shortcuts(membership=request.membership, enabled=enabled)
    messages.success(request, f"Single-key shortcuts are {'on' if enabled else 'off'}.")
    back = request.POST.get("next", "")
    if not back.startswith("/") or not url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        back = reverse("tickets:queues", args=[tenant_slug])
    return redirect(back)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _page_cursor(value: str | None):
    """The keyset (created_at, id) of `after=<microseconds>-<id>`, or None."""
    at, _, pk = (value or "").partition("-")
    at, pk = parse_id(at), parse_id(pk)
    if at is None or pk is None:
        return None
    try:
        # Whole microseconds both ways: a float timestamp could be off by one.
        return _EPOCH + timedelta(microseconds=at), pk
    except OverflowError:
        return None


@require_GET
def notification_list(request, tenant_slug):
    """The member's notifications, newest first, a page at a time (keyset)."""
    page, more = notifications.notifications_page(
        user=request.user, after=_page_cursor(request.GET.get("after"))
    )
    next_cursor = None
    if more is not None:
        at, pk = more
        next_cursor = f"{(at - _EPOCH) // timedelta(microseconds=1)}-{pk}"
    return render(
        request,
        "helpdesk/notifications.html",
        {
            "notifications": page,
            "next_cursor": next_cursor,
            "paged": "after" in request.GET,
            "has_unread": any(n.read_at is None for n in page),
        },
    )


@require_GET
def notification_bell(request, tenant_slug):
    """The bell's unread count (polled by the header every few seconds)."""
    response = render(
        request,
        "helpdesk/_bell.html",
        {"unread": notifications.notifications_unread_count(user=request.user)},
    )
    add_never_cache_headers(response)
    return response


@require_GET
def notification_open(request, tenant_slug, notification_id):
    """Follow a notification to its ticket, marking it read on the way."""
    notification = Notification.objects.filter(
        user_id=request.user.pk, in_app=True, pk=notification_id
    ).first()
    if notification is None:
        # Someone else's, or gone: nothing to show but one's own list.
        messages.info(request, "That notification is not there any more.")
        return redirect("notifications", tenant_slug)
    notifications.notifications_mark_read(user=request.user, notification_id=notification.pk)
    target = notification.url
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        target = reverse("notifications", args=[tenant_slug])
    return redirect(target)


@require_POST
def notifications_read(request, tenant_slug):
    count = services.notifications_mark_read(user=request.user)
    if count:
        messages.success(request, f"Marked {count} notification{pluralize(count)} read.")
    return redirect("notifications", tenant_slug)


@require_http_methods(["GET", "POST"])
def notification_preferences(request, tenant_slug):
    """Each member chooses, per kind, whether it comes in the app and by mail."""
    choices = notifications.notification_choices(user=request.user)
    if request.method == "POST":
        chosen = {
            choice.kind.name: (
                f"{choice.kind.name}:in_app" in request.POST,
                f"{choice.kind.name}:mail" in request.POST,
            )
            for choice in choices
        }
        changed = notifications.notification_preferences_save(user=request.user, choices=chosen)
        messages.success(
            request, "Your choices are saved." if changed else "Nothing changed: already so."
        )
        return redirect("notification_preferences", tenant_slug)
    return render(
        request,
        "helpdesk/notification_preferences.html",
        {
            "choices": choices,
            "mail_minutes": django_settings.NOTIFICATION_MAIL_MINUTES,
        },
    )


@require_GET
def member_mentions(request, tenant_slug):
    """Members whose name or username starts with `q`, for @mentions in
    the composer: JSON, at most 8."""
    query = request.GET.get("q", "")
    return JsonResponse(
        {"members": notifications.members_matching(query=query)},
        headers={"Cache-Control": "private, max-age=30"},
    )


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def api_key_list(request, tenant_slug):
    """Admins list the tenant's API keys, make one and revoke them."""
    form = ApiKeyForm(request.POST or None)
    created = raw_key = None
    if request.method == "POST" and form.is_valid():
        try:
            created, raw_key = services.api_key_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            form = ApiKeyForm()
    # The new key is shown in this response only: not through a redirect and a
    # flash message (the session is stored in the database), never cached.
    response = render(
        request,
        "helpdesk/api_keys.html",
        {
            "form": form,
            "keys": ApiKey.objects.select_related("created_by"),
            "created": created,
            "raw_key": raw_key,
        },
    )
    add_never_cache_headers(response)
    return response


@require_POST
@role_required(Membership.Role.ADMIN)
def api_key_revoke(request, tenant_slug, key_id):
    api_key = ApiKey.objects.filter(pk=key_id).first()
    if api_key is None:
        raise Http404("No such API key.")
    services.api_key_revoke(actor=request.user, api_key=api_key)
    messages.success(request, f"Revoked “{api_key.name}”: it no longer works.")
    return redirect("api_keys", tenant_slug)


csp_logger = logging.getLogger("helpdesk.csp")


@csrf_exempt
@require_POST
def csp_report(request):
    """Browsers report Content-Security-Policy violations here; each is
    logged (a violation is a bug in a page or an attack on one)."""
    body = request.read(16_384)
    try:
        report = json.loads(body or b"{}").get("csp-report", {})
    except (ValueError, AttributeError):
        report = {}
    if isinstance(report, dict):
        csp_logger.warning(
            "CSP violation on %s: %s blocked %s",
            str(report.get("document-uri", ""))[:300],
            str(report.get("violated-directive", ""))[:100],
            str(report.get("blocked-uri", ""))[:300],
        )
    return HttpResponse(status=204)


@require_http_methods(["GET", "POST"])
def account_sessions(request):
    """The user's own signed-in sessions, and "sign out everywhere"."""
    from django.contrib.auth import logout
    from django.contrib.auth.views import redirect_to_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ..accounts import sessions_end_all, sessions_of

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.method == "POST":
        user = request.user
        count = sessions_end_all(user)
        logout(request)
        messages.success(request, f"Signed out everywhere ({count} session(s)). Log in again.")
        return redirect("login")
    return render(
        request,
        "helpdesk/accounts/sessions.html",
        {
            "sessions": sessions_of(request.user),
            "current": request.session.session_key,
            "has_authenticator": TOTPDevice.objects.filter(
                user=request.user, confirmed=True
            ).exists(),
        },
    )
