from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.urls import Resolver404, resolve
from django.utils import timezone

from .models import Membership
from .tenancy import tenant_context


class TenantMiddleware:
    """Resolve the tenant from the /<tenant_slug>/ URL once per request.

    Anonymous users go to the login page; anyone who is not a member gets 404,
    so a tenant's existence is not revealed. The view and its template
    rendering run inside the tenant's context.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        slug = match.kwargs.get("tenant_slug")
        if slug is None:
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = (
            Membership.objects.select_related("tenant", "user")
            .filter(tenant__slug=slug, user=request.user, user__is_active=True)
            .first()
        )
        if membership is None:
            raise Http404("No such help desk.")
        request.tenant = membership.tenant
        request.membership = membership
        timezone.activate(membership.tenant.time_zone)
        try:
            with tenant_context(membership.tenant):
                response = self.get_response(request)
                # Render lazily built responses while the tenant is still active.
                if hasattr(response, "render") and callable(response.render):
                    response.render()
                return response
        finally:
            timezone.deactivate()
