from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.urls import Resolver404, resolve

from .extensions import request_hooks
from .models import Membership
from .tenancy import TENANT_URL_KWARG, is_tenant_page, render_now, tenant_context
from .two_factor import tenant_requires_enrolment


class TenantMiddleware:
    """Guard every tenant page: a URL resolved through a `tenant_pages()`
    include (helpdesk.tenancy), whatever its own arguments are called.

    Anonymous users go to the login page; anyone who is not a member gets 404,
    so a tenant's existence is not revealed. The view and its template
    rendering run inside the tenant's context (which also activates the
    tenant's time zone).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        if not is_tenant_page(match):
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # All of the user's memberships in one query: the one for this
        # tenant, and the rest for the header's tenant switcher
        # (context_processors.tenancy), which would otherwise read them again.
        memberships = list(
            Membership.objects.select_related("tenant", "user").filter(user=request.user)
        )
        slug = match.kwargs[TENANT_URL_KWARG]
        membership = next((m for m in memberships if m.tenant.slug == slug), None)
        # A deactivated member is a stranger here, like a non-member.
        if membership is None or not membership.is_active or not request.user.is_active:
            raise Http404("No such help desk.")
        # A tenant that requires two-factor sign-in sends a member who gave
        # no code in this session to set up (or use) an authenticator.
        enrol = tenant_requires_enrolment(request, membership.tenant)
        if enrol is not None:
            return enrol
        request.tenant = membership.tenant
        request.membership = membership
        request.memberships = [m for m in memberships if m.is_active]
        with tenant_context(membership.tenant):
            for hook in request_hooks:
                hook.call(request)
            return render_now(self.get_response(request))
