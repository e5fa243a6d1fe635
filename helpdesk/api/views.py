"""The base of every tenant API view."""

from datetime import UTC

from django.utils import timezone
from rest_framework.views import APIView

from ..tenancy import public_tenant_view, render_now
from .authentication import acting_api_key
from .permissions import ApiKeyScope


class TenantApiView(APIView):
    """Runs the whole request (key lookup, view, rendering) inside the tenant
    named by the URL's `api_tenant`: a public entry point (an API key is not
    a logged-in member), so the tenant is found by public_tenant_view, as
    for the web form and the inbound webhook.
    """

    permission_classes = [ApiKeyScope]

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)
        # An unknown tenant runs the view with none: authentication then
        # answers 401, as for a wrong key, so the API does not tell which
        # tenants exist.
        return public_tenant_view("api_tenant", unknown=view)(view)

    def dispatch(self, request, *args, **kwargs):
        request.api_tenant = getattr(request, "tenant", None)
        self._acting = None
        try:
            # The API speaks UTC whatever the tenant's zone (tenant_context
            # activates that one for pages and tasks).
            with timezone.override(UTC):
                return render_now(super().dispatch(request, *args, **kwargs))
        finally:
            if self._acting is not None:
                acting_api_key.reset(self._acting)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticates: request.auth is the key
        self._acting = acting_api_key.set(request.auth)

    def parse(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
