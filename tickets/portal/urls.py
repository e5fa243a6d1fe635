"""The portal's public URLs (outside the tenant pages; each view finds its
tenant with public_tenant_view and is on the allow-list in helpdesk/checks.py)."""

from django.urls import include, path

from . import views

app_name = "portal"

# A ticket's actions, under its link...
link_actions = [
    path("reply/", views.ticket_reply, name="reply"),
    path("solve/", views.ticket_solve, name="solve"),
    path("rate/", views.ticket_rate, name="rate"),
    path("files/<int:attachment_id>/", views.ticket_attachment, name="file"),
]
# ...and, signed in, under its number.
signed_in_actions = [
    path("reply/", views.my_ticket_reply, name="reply"),
    path("solve/", views.my_ticket_solve, name="solve"),
    path("rate/", views.my_ticket_rate, name="rate"),
    path("files/<int:attachment_id>/", views.my_ticket_attachment, name="file"),
]

urlpatterns = [
    path("<slug:portal_tenant>/", views.portal_home, name="home"),
    path("<slug:portal_tenant>/signin/<str:token>/", views.portal_signin, name="signin"),
    path("<slug:portal_tenant>/signout/", views.portal_signout, name="signout"),
    path("<slug:portal_tenant>/logo/", views.portal_logo, name="logo"),
    path("<slug:portal_tenant>/tickets/", views.my_tickets, name="my_tickets"),
    path("<slug:portal_tenant>/tickets/new/", views.new_ticket, name="new_ticket"),
    path("<slug:portal_tenant>/t/<int:number>/<str:token>/", views.ticket_page, name="ticket"),
    path(
        "<slug:portal_tenant>/t/<int:number>/<str:token>/",
        include((link_actions, "link")),
    ),
    path("<slug:portal_tenant>/tickets/<int:number>/", views.my_ticket_page, name="my_ticket"),
    path(
        "<slug:portal_tenant>/tickets/<int:number>/",
        include((signed_in_actions, "mine")),
    ),
]
