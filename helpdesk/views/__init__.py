import json
import logging
import sys

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.cache import add_never_cache_headers
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import services
from ..forms import ApiKeyForm
from ..models import ApiKey, Membership, Notification
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


@require_GET
def notification_list(request, tenant_slug):
    notifications = Notification.objects.filter(user=request.user)[:100]
    return render(request, "helpdesk/notifications.html", {"notifications": notifications})


@require_POST
def notifications_read(request, tenant_slug):
    services.notifications_mark_read(user=request.user)
    return redirect("notifications", tenant_slug)


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
