from django.urls import path

from helpdesk.tenancy import tenant_pages

from .automations import views as automations
from .portal.settings_views import portal_settings_edit
from .views import (
    board,
    canned,
    failed_work,
    intake,
    queues,
    search,
    settings_categories,
    settings_email,
    settings_tags,
    ticket,
    web_form,
)
from .webhooks import views as webhooks

app_name = "tickets"

# Pages of one tenant, under /<tenant>/ (helpdesk.tenancy.tenant_pages).
tenant_urlpatterns = [
    path("settings/quarantine/", intake.quarantine_list, name="quarantine"),
    path(
        "settings/quarantine/<int:inbound_id>/",
        intake.quarantine_detail,
        name="quarantine_detail",
    ),
    path(
        "settings/quarantine/<int:inbound_id>/download/",
        intake.quarantine_download,
        name="quarantine_download",
    ),
    path(
        "settings/quarantine/<int:inbound_id>/reprocess/",
        intake.quarantine_reprocess,
        name="quarantine_reprocess",
    ),
    path(
        "settings/quarantine/<int:inbound_id>/file-anyway/",
        intake.quarantine_file_anyway,
        name="quarantine_file_anyway",
    ),
    path("settings/failed-work/", failed_work.failed_work_list, name="failed_work"),
    path(
        "settings/failed-work/run-again/",
        failed_work.failed_work_run_again,
        name="failed_work_run_again",
    ),
    path("tickets/<int:number>/presence/", ticket.ticket_presence, name="presence"),
    path(
        "tickets/<int:number>/canned/<int:canned_id>/",
        ticket.canned_response_insert,
        name="canned_insert",
    ),
    path("settings/canned/", canned.canned_response_list, name="canned_list"),
    path("settings/portal/", portal_settings_edit, name="portal_settings"),
    path("settings/categories/", settings_categories.category_list, name="categories"),
    path("settings/email/", settings_email.email_setup, name="email_setup"),
    path("settings/tags/", settings_tags.tag_list, name="tags"),
    path("settings/tags/rename/", settings_tags.tag_rename, name="tag_rename"),
    path(
        "settings/categories/<int:category_id>/",
        settings_categories.category_change,
        name="category_change",
    ),
    path("settings/mailboxes/", intake.mailbox_list, name="mailboxes"),
    path("settings/mailboxes/<int:mailbox_id>/", intake.mailbox_edit, name="mailbox_edit"),
    path(
        "settings/mailboxes/<int:mailbox_id>/token/",
        intake.mailbox_new_token,
        name="mailbox_new_token",
    ),
    path("settings/canned/<int:canned_id>/", canned.canned_response_list, name="canned_edit"),
    path(
        "settings/canned/<int:canned_id>/delete/",
        canned.canned_response_delete,
        name="canned_delete",
    ),
    path("settings/webhooks/", webhooks.webhook_list, name="webhooks"),
    path("settings/webhooks/<int:webhook_id>/", webhooks.webhook_edit, name="webhook_edit"),
    path(
        "settings/webhooks/<int:webhook_id>/secret/",
        webhooks.webhook_secret,
        name="webhook_secret",
    ),
    path("settings/webhooks/<int:webhook_id>/test/", webhooks.webhook_test, name="webhook_test"),
    path(
        "settings/webhooks/<int:webhook_id>/delete/",
        webhooks.webhook_delete,
        name="webhook_delete",
    ),
    path("settings/automations/", automations.automation_list, name="automations"),
    path(
        "settings/automations/<int:rule_id>/",
        automations.automation_edit,
        name="automation_edit",
    ),
    path(
        "settings/automations/<int:rule_id>/delete/",
        automations.automation_delete,
        name="automation_delete",
    ),
    path("board/", board.board_view, name="board"),
    path("tickets/<int:number>/move/", board.ticket_move, name="move"),
    path("", queues.queue_index, name="home"),
    path("queues/", queues.queue_index, name="queues"),
    path("queues/<slug:slug>/", queues.queue_view, name="queue"),
    path("queues/<slug:slug>/bulk/", queues.queue_bulk, name="queue_bulk"),
    path("views/", queues.saved_view_create, name="saved_view_create"),
    path("views/<int:view_id>/delete/", queues.saved_view_delete, name="saved_view_delete"),
    path("tickets/", ticket.ticket_list, name="list"),
    path("tickets/new/", ticket.ticket_new, name="new"),
    path("tickets/<int:number>/", ticket.ticket_detail, name="detail"),
    path("tickets/<int:number>/update/", ticket.ticket_update, name="update"),
    path("tickets/<int:number>/reply/", ticket.ticket_reply, name="reply"),
    path("tickets/<int:number>/state/", ticket.ticket_state, name="state"),
    path(
        "tickets/<int:number>/portal-links/reset/",
        ticket.portal_links_reset,
        name="portal_links_reset",
    ),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/",
        ticket.attachment_download,
        name="attachment",
    ),
    path("search/", search.search_view, name="search"),
]

urlpatterns = [
    # Public entry points: outside the tenant pages, on the allow-list in
    # helpdesk/checks.py.
    path(
        "inbound/<slug:inbound_tenant>/<uuid:mailbox_id>/",
        intake.inbound_webhook,
        name="inbound_webhook",
    ),
    # The public web form: no login; the views find their tenant themselves
    # (helpdesk.tenancy.public_tenant_view).
    path("help/<slug:form_tenant>/", web_form.web_form, name="web_form"),
    path("help/<slug:form_tenant>/sent/<str:token>/", web_form.web_form_sent, name="web_form_sent"),
    tenant_pages(tenant_urlpatterns),
]
