"""SLA settings pages: thin views over sla.services.settings and sla.selectors."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from helpdesk.models import Membership
from helpdesk.permissions import role_required

from .models import Calendar
from .selectors import policies_ordered


@require_GET
@role_required(Membership.Role.ADMIN)
def sla_settings(request, tenant_slug):
    """Calendars and policies of the tenant, in the order policies are tried."""
    return render(
        request,
        "sla/settings.html",
        {"calendars": list(Calendar.objects.all()), "policies": policies_ordered()},
    )
