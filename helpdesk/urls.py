from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import accounts, two_factor, views
from .tenancy import tenant_pages
from .views import console

# A request that fails because the database is down answers 503, not 500.
handler500 = views.server_error

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/", console.settings_home, name="tenant_settings"),
    path("settings/general/", console.tenant_general, name="tenant_general"),
    path("settings/general/logo/", console.tenant_logo_upload, name="tenant_logo_upload"),
    path("logo/", console.tenant_logo, name="tenant_logo"),
    path("settings/people/", console.people, name="people"),
    path("settings/people/<int:membership_id>/role/", console.member_role, name="member_role"),
    path(
        "settings/people/<int:membership_id>/deactivate/",
        console.member_deactivate,
        name="member_deactivate",
    ),
    path(
        "settings/people/<int:membership_id>/reactivate/",
        console.member_reactivate,
        name="member_reactivate",
    ),
    path(
        "settings/invitations/<int:invitation_id>/resend/",
        console.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        console.invitation_revoke,
        name="invitation_revoke",
    ),
    path("settings/groups/", console.group_list, name="groups"),
    path("settings/groups/<int:group_id>/", console.group_edit, name="group_edit"),
    path("settings/groups/<int:group_id>/archive/", console.group_archive, name="group_archive"),
    path("settings/groups/<int:group_id>/members/", console.group_members, name="group_members"),
    path("settings/audit/", console.audit_log, name="audit_log"),
    path("settings/api-keys/", views.api_key_list, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path("notifications/<int:notification_id>/", views.notification_open, name="notification_open"),
    path(
        "settings/notifications/",
        views.notification_preferences,
        name="notification_preferences",
    ),
    path("members/mentions/", views.member_mentions, name="member_mentions"),
    path("keyboard-shortcuts/", views.keyboard_shortcuts, name="keyboard_shortcuts"),
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
    path("accounts/sessions/", views.account_sessions, name="account_sessions"),
    path("accounts/two-factor/setup/", two_factor.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", two_factor.two_factor_verify, name="two_factor_verify"),
    path("accounts/password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        accounts.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password-reset/done/",
        accounts.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("accounts/invitation/<str:token>/", console.invitation_accept, name="invitation_accept"),
    path("admin/", admin.site.urls),
    # Before the tenant pages: /api/ must never be read as a tenant slug.
    path("api/v1/", include("tickets.api.urls")),
    # The customer portal (public; before the tenant pages, as /api/).
    path("portal/", include("tickets.portal.urls")),
    # Tickets' public entry points (/help/, /inbound/) and its tenant pages.
    path("", include("tickets.urls")),
    path("", include("reports.urls")),
    path("", include("sla.urls")),
    # Dispatch's tenant pages (routing settings, review queue, Get next).
    path("", include("dispatch.urls")),
    tenant_pages(tenant_urlpatterns),
]
