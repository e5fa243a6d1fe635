from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """API_RATE requests per key, counted in the shared cache (Redis), so the
    limit holds across every web process."""

    scope = "api_key"

    def get_rate(self) -> str:
        # Read on each request rather than once at import, so it follows the settings.
        return settings.API_RATE

    def get_cache_key(self, request, view) -> str | None:
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
