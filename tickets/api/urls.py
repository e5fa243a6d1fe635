from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from helpdesk.api import errors
from helpdesk.parsing import ID_DIGITS

from . import views


class TicketNumberConverter:
    """A ticket number in a path: ASCII digits, bounded (helpdesk.parsing);
    anything else matches no route and gets the JSON 404."""

    regex = f"[0-9]{{1,{ID_DIGITS}}}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


# Named in SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"] for the schema.
register_converter(TicketNumberConverter, "ticket_number")

app_name = "api"

urlpatterns = [
    # The schema describes the API, not a tenant's data: open to all, no key.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    path("<slug:api_tenant>/tickets/", views.TicketCollection.as_view(), name="tickets"),
    path(
        "<slug:api_tenant>/tickets/<ticket_number:number>/",
        views.TicketItem.as_view(),
        name="ticket",
    ),
    path(
        "<slug:api_tenant>/tickets/<ticket_number:number>/messages/",
        views.TicketMessages.as_view(),
        name="messages",
    ),
    re_path(r"^", errors.not_found),
]
