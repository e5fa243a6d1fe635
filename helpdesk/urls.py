from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .tenancy import tenant_pages

# A request that fails because the database is down answers 503, not 500.
handler500 = views.server_error

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/", views.tenant_settings, name="tenant_settings"),
    path("settings/api-keys/", views.api_key_list, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("csp-report/", views.csp_report, name="csp_report"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="helpdesk/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Before the tenant pages: /api/ must never be read as a tenant slug.
    path("api/v1/", include("tickets.api.urls")),
    # Tickets' public entry points (/help/, /inbound/) and its tenant pages.
    path("", include("tickets.urls")),
    # Dispatch's tenant pages (routing settings, review queue, Get next).
    path("", include("dispatch.urls")),
    tenant_pages(tenant_urlpatterns),
]
