from rest_framework.permissions import SAFE_METHODS, BasePermission

from helpdesk.models import ApiKey


class DenyAll(BasePermission):
    """The default: an API view that does not say who may use it is closed."""

    def has_permission(self, request, view) -> bool:
        return False


class ApiKeyScope(BasePermission):
    """Any valid key reads; only a write-scoped key changes anything."""

    message = "This API key has the read scope; writing needs a key with the write scope."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        return request.method in SAFE_METHODS or api_key.can_write
