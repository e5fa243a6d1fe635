from django.conf import settings

from .extensions import nav_items_for, topbar_widgets_for
from .models import Membership


def tenancy(request):
    """The active tenant and the user's other tenants, for the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Read by TenantMiddleware on a tenant's page; read here on any other.
    memberships = getattr(request, "memberships", None)
    if memberships is None:
        memberships = Membership.objects.filter(user=user, is_active=True).select_related("tenant")
    membership = getattr(request, "membership", None)
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "my_memberships": memberships,
        "nav_extra": nav_items_for(membership) if membership is not None else [],
        "topbar_extra": topbar_widgets_for(membership) if membership is not None else [],
        "notification_refresh_seconds": settings.NOTIFICATION_REFRESH_SECONDS,
    }
