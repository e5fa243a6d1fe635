from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .forms import TenantSettingsForm
from .models import Membership, Notification, Tenant
from .permissions import role_required


@require_GET
def home(request):
    """Send a user to their help desk, or let them choose one."""
    if not request.user.is_authenticated:
        return redirect("login")
    memberships = list(Membership.objects.filter(user=request.user).select_related("tenant"))
    if len(memberships) == 1:
        return redirect("tickets:queues", memberships[0].tenant.slug)
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
