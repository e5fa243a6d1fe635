from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from . import errors, views

app_name = "api"

urlpatterns = [
    # The schema describes the API, not a tenant's data: open to all, no key.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    path("<slug:api_tenant>/tickets/", views.TicketCollection.as_view(), name="tickets"),
    path("<slug:api_tenant>/tickets/<int:number>/", views.TicketItem.as_view(), name="ticket"),
    path(
        "<slug:api_tenant>/tickets/<int:number>/messages/",
        views.TicketMessages.as_view(),
        name="messages",
    ),
    re_path(r"^", errors.not_found),
]
