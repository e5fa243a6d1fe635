from django.urls import path

from . import search, views

app_name = "tickets"

urlpatterns = [
    path("<slug:tenant_slug>/tickets/", views.ticket_list, name="list"),
    path("<slug:tenant_slug>/tickets/new/", views.ticket_new, name="new"),
    path("<slug:tenant_slug>/tickets/<int:number>/", views.ticket_detail, name="detail"),
    path("<slug:tenant_slug>/tickets/<int:number>/update/", views.ticket_update, name="update"),
    path("<slug:tenant_slug>/tickets/<int:number>/reply/", views.ticket_reply, name="reply"),
    path(
        "<slug:tenant_slug>/tickets/<int:number>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path("<slug:tenant_slug>/search/", search.search_view, name="search"),
]
