from django.urls import path

from helpdesk.tenancy import tenant_pages

from . import views
from .pages import views as pages

app_name = "reports"

tenant_urlpatterns = [
    path("reports/", views.dashboard, name="dashboard"),
    path("reports/tickets/<slug:metric>/", views.ticket_list, name="tickets"),
    path("reports/efficiency/", pages.efficiency, name="efficiency"),
    path("reports/quality/", pages.quality, name="quality"),
    path("reports/causes/", pages.causes, name="causes"),
    path("reports/load/", pages.load, name="load"),
    path("reports/stalls/", pages.stalls, name="stalls"),
    path("reports/channels/", pages.channels, name="channels"),
]

urlpatterns = [tenant_pages(tenant_urlpatterns)]
