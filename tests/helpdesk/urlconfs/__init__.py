"""URL configurations for the tenant URL check and the middleware tests:
the project's own URLs plus one route each."""

from django.http import HttpResponse
from django.utils import timezone

from helpdesk.tenancy import current_tenant


def tenant_name(request, **kwargs):
    """The active tenant's name and time zone: whose context the view ran in."""
    return HttpResponse(f"{current_tenant().name} {timezone.get_current_timezone_name()}")
