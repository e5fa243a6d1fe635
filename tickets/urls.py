from django.urls import path

from .views import board, canned, failed_work, intake, queues, search, ticket, web_form

app_name = "tickets"

urlpatterns = [
    path(
        "inbound/<slug:inbound_tenant>/<uuid:mailbox_id>/",
        intake.inbound_webhook,
        name="inbound_webhook",
    ),
    # The public web form. Its tenant kwarg is not "tenant_slug", so the
    # middleware asks for no login; the views enter the tenant's context.
    path("help/<slug:form_tenant>/", web_form.web_form, name="web_form"),
    path(
        "help/<slug:form_tenant>/sent/<str:token>/",
        web_form.web_form_sent,
        name="web_form_sent",
    ),
    path(
        "<slug:tenant_slug>/settings/quarantine/",
        intake.quarantine_list,
        name="quarantine",
    ),
    path(
        "<slug:tenant_slug>/settings/quarantine/<int:inbound_id>/",
        intake.quarantine_detail,
        name="quarantine_detail",
    ),
    path(
        "<slug:tenant_slug>/settings/quarantine/<int:inbound_id>/download/",
        intake.quarantine_download,
        name="quarantine_download",
    ),
    path(
        "<slug:tenant_slug>/settings/quarantine/<int:inbound_id>/reprocess/",
        intake.quarantine_reprocess,
        name="quarantine_reprocess",
    ),
    path(
        "<slug:tenant_slug>/settings/quarantine/<int:inbound_id>/file-anyway/",
        intake.quarantine_file_anyway,
        name="quarantine_file_anyway",
    ),
    path(
        "<slug:tenant_slug>/settings/failed-work/",
        failed_work.failed_work_list,
        name="failed_work",
    ),
    path(
        "<slug:tenant_slug>/settings/failed-work/run-again/",
        failed_work.failed_work_run_again,
        name="failed_work_run_again",
    ),
    path(
        "<slug:tenant_slug>/tickets/<int:number>/presence/", ticket.ticket_presence, name="presence"
    ),
    path(
        "<slug:tenant_slug>/tickets/<int:number>/canned/<int:canned_id>/",
        ticket.canned_response_insert,
        name="canned_insert",
    ),
    path("<slug:tenant_slug>/settings/canned/", canned.canned_response_list, name="canned_list"),
    path("<slug:tenant_slug>/settings/mailboxes/", intake.mailbox_list, name="mailboxes"),
    path(
        "<slug:tenant_slug>/settings/mailboxes/<int:mailbox_id>/",
        intake.mailbox_edit,
        name="mailbox_edit",
    ),
    path(
        "<slug:tenant_slug>/settings/mailboxes/<int:mailbox_id>/token/",
        intake.mailbox_new_token,
        name="mailbox_new_token",
    ),
    path(
        "<slug:tenant_slug>/settings/canned/<int:canned_id>/",
        canned.canned_response_list,
        name="canned_edit",
    ),
    path(
        "<slug:tenant_slug>/settings/canned/<int:canned_id>/delete/",
        canned.canned_response_delete,
        name="canned_delete",
    ),
    path("<slug:tenant_slug>/board/", board.board_view, name="board"),
    path("<slug:tenant_slug>/tickets/<int:number>/move/", board.ticket_move, name="move"),
    path("<slug:tenant_slug>/", queues.queue_index, name="home"),
    path("<slug:tenant_slug>/queues/", queues.queue_index, name="queues"),
    path("<slug:tenant_slug>/queues/<slug:slug>/", queues.queue_view, name="queue"),
    path("<slug:tenant_slug>/queues/<slug:slug>/bulk/", queues.queue_bulk, name="queue_bulk"),
    path("<slug:tenant_slug>/views/", queues.saved_view_create, name="saved_view_create"),
    path(
        "<slug:tenant_slug>/views/<int:view_id>/delete/",
        queues.saved_view_delete,
        name="saved_view_delete",
    ),
    path("<slug:tenant_slug>/tickets/", ticket.ticket_list, name="list"),
    path("<slug:tenant_slug>/tickets/new/", ticket.ticket_new, name="new"),
    path("<slug:tenant_slug>/tickets/<int:number>/", ticket.ticket_detail, name="detail"),
    path("<slug:tenant_slug>/tickets/<int:number>/update/", ticket.ticket_update, name="update"),
    path("<slug:tenant_slug>/tickets/<int:number>/reply/", ticket.ticket_reply, name="reply"),
    path("<slug:tenant_slug>/tickets/<int:number>/state/", ticket.ticket_state, name="state"),
    path(
        "<slug:tenant_slug>/tickets/<int:number>/attachments/<int:attachment_id>/",
        ticket.attachment_download,
        name="attachment",
    ),
    path("<slug:tenant_slug>/search/", search.search_view, name="search"),
]
