import json
import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import ApiKeyForm, TenantSettingsForm
from .models import ApiKey, Membership, Notification, Tenant
from .permissions import role_required


@require_GET
def home(request):
    """Send a user to their help desk, or let them choose one."""
    if not request.user.is_authenticated:
        return redirect("login")
    memberships = list(Membership.objects.filter(user=request.user).select_related("tenant"))
    if len(memberships) == 1:
        return redirect("tickets:home", memberships[0].tenant.slug)
    return render(request, "helpdesk/choose_tenant.html", {"memberships": memberships})


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@require_http_methods(["GET", "POST"])
@role_required(Membership.Role.ADMIN)
def tenant_settings(request, tenant_slug):
    # Edit a copy: a refused change must not show up half-applied in the header.
    tenant = Tenant.objects.get(pk=request.tenant.pk)
    form = TenantSettingsForm(request.POST or None, instance=tenant)
    if request.method == "POST" and form.is_valid():
        try:
            services.tenant_update_settings(
                tenant=Tenant.objects.get(pk=tenant.pk), actor=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, "Settings saved.")
            return redirect("tenant_settings", tenant_slug)
    return render(request, "helpdesk/tenant_settings.html", {"form": form})


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
