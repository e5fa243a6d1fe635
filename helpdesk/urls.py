from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

# A request that fails because the database is down answers 503, not 500.
handler500 = views.server_error

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
    path("<slug:tenant_slug>/settings/", views.tenant_settings, name="tenant_settings"),
    path("<slug:tenant_slug>/settings/api-keys/", views.api_key_list, name="api_keys"),
    path(
        "<slug:tenant_slug>/settings/api-keys/<int:key_id>/revoke/",
        views.api_key_revoke,
        name="api_key_revoke",
    ),
    path("<slug:tenant_slug>/notifications/", views.notification_list, name="notifications"),
    path(
        "<slug:tenant_slug>/notifications/read/",
        views.notifications_read,
        name="notifications_read",
    ),
    path("", include("tickets.urls")),
]
