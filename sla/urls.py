from django.urls import path

from helpdesk.tenancy import tenant_pages

from . import views

app_name = "sla"

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/sla/", views.sla_settings, name="settings"),
]

urlpatterns = [tenant_pages(tenant_urlpatterns)]
