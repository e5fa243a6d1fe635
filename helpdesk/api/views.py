"""The base of every tenant API view."""

from rest_framework.views import APIView

from ..models import Tenant
from ..tenancy import tenant_context
from .authentication import acting_api_key
from .permissions import ApiKeyScope


class TenantApiView(APIView):
    """Runs the whole request (key lookup, view, rendering) inside the tenant
    named by the URL, the way TenantMiddleware does for the web pages.

    The tenant comes from `api_tenant`, not `tenant_slug`, so the session
    middleware leaves these URLs alone: an API key is not a logged-in member.
    """

    permission_classes = [ApiKeyScope]

    def dispatch(self, request, *args, **kwargs):
        tenant = Tenant.objects.filter(slug=kwargs.get("api_tenant")).first()
        if tenant is None:
            # No tenant context: authentication answers 401, as for a wrong
            # key, so the API does not tell which tenants exist.
            return super().dispatch(request, *args, **kwargs)
        request.api_tenant = tenant
        self._acting = None
        try:
            with tenant_context(tenant):
                response = super().dispatch(request, *args, **kwargs)
                if hasattr(response, "render") and callable(response.render):
                    response.render()
                return response
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
