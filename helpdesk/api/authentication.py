"""API keys as DRF authentication: `Authorization: Bearer hd_<prefix>_<secret>`."""

import contextvars
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from helpdesk import services
from helpdesk.models import ApiKey

# The API key the current request came through: every ticket event written
# meanwhile names it (tickets.events), for the audit trail.
acting_api_key: contextvars.ContextVar = contextvars.ContextVar("acting_api_key", default=None)


@dataclass(frozen=True)
class ApiClient:
    """Who is calling: an API key, not a person, so there is no user account
    to stand in for it (request.user is this; request.auth is the key)."""

    api_key: ApiKey
    is_authenticated = True
    is_anonymous = False


class ApiKeyAuthentication(BaseAuthentication):
    """Find the key among the keys of the tenant named in the URL.

    The view has entered that tenant's context before this runs, so the
    lookup is scoped (and row-level secured) to it: another tenant's key
    simply is not found. Unknown tenant, unknown key, revoked key and a key
    of another tenant all get the same 401.
    """

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("Send the key as: Authorization: Bearer <key>.")
        if getattr(request, "api_tenant", None) is None:
            raise AuthenticationFailed("Invalid API key.")
        api_key = services.api_key_for_token(token)
        # A revoked key gets the same answer as an unknown one: the 401 tells
        # no one which keys once worked.
        if api_key is None or not api_key.is_active:
            raise AuthenticationFailed("Invalid API key.")
        services.api_key_touch(api_key)
        return ApiClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        # Without a challenge DRF would turn 401 into 403.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the schema describes the key: plain HTTP bearer authentication."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key of the tenant in the path, e.g. hd_1a2b3c4d_...",
        }
