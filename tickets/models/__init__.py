"""The ticket app's models, by subject: contacts, tickets, events, channels
(mail and the web form) and the agents' workspace."""

from .automation import AutomationRule, AutomationRun
from .base import SEARCH_CONFIG
from .channels import InboundEmail, Mailbox, OutboundEmail, WebFormSubmission
from .contact import Contact, Organization
from .event import Event, EventHandlerFailure, EventHandlerRun
from .search import ContactSearch, MessageSearch, TicketSearch
from .ticket import (
    OPEN_Q,
    OPEN_STATUS_VALUES,
    URGENT_ORDER,
    WAITING_STATUS_VALUES,
    Attachment,
    Category,
    Message,
    Ticket,
    TicketCounter,
    attachment_path,
)
from .webhook import Webhook, WebhookAttempt, WebhookDelivery
from .workspace import CannedResponse, SavedView

__all__ = [
    "OPEN_Q",
    "OPEN_STATUS_VALUES",
    "SEARCH_CONFIG",
    "URGENT_ORDER",
    "WAITING_STATUS_VALUES",
    "Attachment",
    "AutomationRule",
    "AutomationRun",
    "CannedResponse",
    "Category",
    "Contact",
    "ContactSearch",
    "Event",
    "EventHandlerFailure",
    "EventHandlerRun",
    "InboundEmail",
    "Mailbox",
    "Message",
    "MessageSearch",
    "Organization",
    "OutboundEmail",
    "SavedView",
    "Ticket",
    "TicketCounter",
    "TicketSearch",
    "WebFormSubmission",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "attachment_path",
]
