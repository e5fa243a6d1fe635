"""Every write to tickets goes through here: validate, write, record the event.

Views, tasks, the admin and the API call these; nothing else writes tickets.
"""

from ..attachments import BLOCKED_EXTENSIONS, attachment_name_normalised, attachment_refusal
from .attachments import (
    StagedAttachment,
    attachments_discard,
    attachments_stage,
    attachments_sweep_orphans,
)
from .bulk import (
    saved_view_create,
    saved_view_delete,
    tickets_bulk_update,
    tickets_system_due_update,
)
from .canned import (
    CANNED_PLACEHOLDERS,
    canned_response_delete,
    canned_response_render,
    canned_response_save,
)
from .categories import (
    category_create,
    category_move,
    category_rename,
    category_set_archived,
)
from .contacts import contact_get_or_create, contact_mail_works, contacts_get_or_create
from .mailboxes import (
    MAILBOX_FIELDS,
    mailbox_create,
    mailbox_new_token,
    mailbox_poll_recorded,
    mailbox_token_matches,
    mailbox_update,
)
from .outbox import event_handler_run_again, event_handlers_redrive
from .tickets import (
    AGENT_FIELDS,
    EDITABLE_FIELDS,
    FIELD_LABELS,
    SYSTEM_FIELDS,
    SYSTEM_ONLY_FIELDS,
    TicketConflict,
    TicketDraft,
    delivery_failed,
    message_add,
    normalize_emails,
    normalize_tags,
    sanitize_html,
    ticket_assign,
    ticket_change_status,
    ticket_changes_since,
    ticket_create,
    ticket_system_reply,
    ticket_system_update,
    ticket_update,
    tickets_create,
    tickets_system_assign,
)
from .web_form import WebFormAlreadySent, WebFormRateLimited, web_form_ticket_create

__all__ = [
    "category_create",
    "category_move",
    "category_rename",
    "category_set_archived",
    "event_handler_run_again",
    "event_handlers_redrive",
    "MAILBOX_FIELDS",
    "mailbox_create",
    "mailbox_new_token",
    "mailbox_poll_recorded",
    "mailbox_token_matches",
    "mailbox_update",
    "BLOCKED_EXTENSIONS",
    "CANNED_PLACEHOLDERS",
    "AGENT_FIELDS",
    "EDITABLE_FIELDS",
    "FIELD_LABELS",
    "SYSTEM_FIELDS",
    "SYSTEM_ONLY_FIELDS",
    "TicketConflict",
    "TicketDraft",
    "StagedAttachment",
    "attachments_discard",
    "attachments_stage",
    "attachments_sweep_orphans",
    "attachment_name_normalised",
    "attachment_refusal",
    "canned_response_delete",
    "canned_response_render",
    "canned_response_save",
    "contact_get_or_create",
    "contact_mail_works",
    "contacts_get_or_create",
    "delivery_failed",
    "message_add",
    "normalize_emails",
    "normalize_tags",
    "sanitize_html",
    "saved_view_create",
    "saved_view_delete",
    "ticket_assign",
    "ticket_change_status",
    "ticket_changes_since",
    "ticket_create",
    "ticket_system_reply",
    "ticket_system_update",
    "tickets_system_assign",
    "ticket_update",
    "tickets_bulk_update",
    "tickets_system_due_update",
    "tickets_create",
    "WebFormAlreadySent",
    "WebFormRateLimited",
    "web_form_ticket_create",
]
