from django.urls import path

from helpdesk.tenancy import tenant_pages

from . import views

app_name = "sla"

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/sla/", views.sla_settings, name="settings"),
    path("settings/sla/calendars/new/", views.sla_calendar_edit, name="calendar_new"),
    path("settings/sla/calendars/<int:calendar_id>/", views.sla_calendar_edit, name="calendar"),
    path(
        "settings/sla/calendars/<int:calendar_id>/closures/",
        views.sla_closure_add,
        name="closure_add",
    ),
    path(
        "settings/sla/calendars/<int:calendar_id>/closures/<int:closure_id>/remove/",
        views.sla_closure_remove,
        name="closure_remove",
    ),
    path("settings/sla/policies/new/", views.sla_policy_edit, name="policy_new"),
    path("settings/sla/policies/<int:policy_id>/", views.sla_policy_edit, name="policy"),
    path("settings/sla/what-if/", views.sla_what_if, name="what_if"),
    path("tickets/<int:number>/sla/", views.sla_ticket_panel, name="ticket_panel"),
]

urlpatterns = [tenant_pages(tenant_urlpatterns)]
