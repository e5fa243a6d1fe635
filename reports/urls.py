from django.urls import path

from helpdesk.tenancy import tenant_pages

from . import views

app_name = "reports"

tenant_urlpatterns = [
    path("reports/", views.dashboard, name="dashboard"),
    path("reports/tickets/<slug:metric>/", views.ticket_list, name="tickets"),
]

urlpatterns = [tenant_pages(tenant_urlpatterns)]
