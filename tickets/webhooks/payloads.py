"""What a ticket event looks like to a receiver: its webhook event name, a
one-line summary (the delivery log shows it too) and the body in either
format. Built once, when the delivery is written."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from ..extensions import system_actor_label
from ..models import Event, Message, Ticket, Webhook
from ..services import FIELD_LABELS, SYSTEM_ONLY_FIELDS

EventName = Webhook.EventName
# The most of a message's text a post carries.
MESSAGE_TEXT_LIMIT = 2000

_MESSAGE_EVENTS = {
    Message.Kind.CUSTOMER: EventName.CUSTOMER_REPLIED,
    Message.Kind.REPLY: EventName.AGENT_REPLIED,
    Message.Kind.NOTE: EventName.NOTE_ADDED,
}


def event_name_for(event: Event) -> str | None:
    """The webhook event an event is, or None for those no receiver is sent
    (SLA deadlines, bounced mail, kinds of other apps)."""
    kind = event.kind
    if kind == Event.Kind.CREATED:
        return EventName.CREATED
    if kind == Event.Kind.MESSAGE_ADDED:
        return _MESSAGE_EVENTS.get((event.new_value or {}).get("kind"))
    if kind == Event.Kind.STATUS_CHANGED:
        return EventName.STATUS_CHANGED
    if kind == Event.Kind.ASSIGNED:
        return EventName.ASSIGNED
    if kind == Event.Kind.FIELD_CHANGED and event.field not in SYSTEM_ONLY_FIELDS:
        return EventName.UPDATED
    return None


def ticket_url(ticket: Ticket) -> str:
    return settings.SITE_URL + reverse("tickets:detail", args=[ticket.tenant.slug, ticket.number])


def _actor(event: Event) -> dict:
    if event.actor_user_id:
        user = event.actor_user
        return {"type": "agent", "name": user.get_full_name() or user.username}
    if event.actor_contact_id:
        return {"type": "customer", "name": event.actor_contact.display_name}
    if event.actor_system:
        return {"type": "system", "name": system_actor_label(event.actor_system)}
    return {"type": "system", "name": "System"}


def _label(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        return str(value.get("label") or "none")
    return str(value)


@dataclass(frozen=True)
class Payload:
    event_name: str
    summary: str
    data: dict

    def body(self, *, format: str, delivery_id: str) -> str:
        if format == Webhook.Format.SLACK:
            return json.dumps({"text": self._slack_text()})
        return json.dumps({"id": delivery_id, **self.data}, default=str)

    def _slack_text(self) -> str:
        ticket = self.data["ticket"]
        link = f"<{ticket['url']}|{_slack_escape(ticket['reference'])}>"
        return f"{link} {_slack_escape(ticket['subject'])}: {_slack_escape(self.data['what'])}"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reads these three as markup; everything else is text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ticket_data(ticket: Ticket) -> dict:
    return {
        "reference": ticket.reference,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.get_priority_display(),
        "group": ticket.group.name if ticket.group_id else None,
        "assignee": (ticket.assignee.get_full_name() or ticket.assignee.username)
        if ticket.assignee_id
        else None,
        "url": ticket_url(ticket),
    }


def payload_for_event(event: Event, event_name: str) -> Payload:
    """The payload of a ticket event (in its tenant's context)."""
    ticket = event.ticket
    actor = _actor(event)
    data = {
        "event": event_name,
        "occurred_at": event.created_at.isoformat(),
        "helpdesk": {"slug": ticket.tenant.slug, "name": ticket.tenant.name},
        "ticket": _ticket_data(ticket),
        "actor": actor,
    }
    who = actor["name"]
    if event_name == EventName.CREATED:
        what = f"new ticket from {ticket.requester.display_name}"
    elif event.kind == Event.Kind.MESSAGE_ADDED:
        message = event.message
        data["message"] = {
            "kind": message.kind,
            "public": message.is_public,
            "text": message.body_text[:MESSAGE_TEXT_LIMIT],
        }
        what = {
            Message.Kind.CUSTOMER: f"{who} replied",
            Message.Kind.REPLY: f"{who} sent a public reply",
            Message.Kind.NOTE: f"{who} added an internal note",
        }[message.kind]
    else:
        field = event.field
        data["change"] = {
            "field": field,
            "from": _label(event.old_value),
            "to": _label(event.new_value),
        }
        label = FIELD_LABELS.get(field, field).lower() if field else "ticket"
        what = f"{who} changed {label} from {_label(event.old_value)} to {_label(event.new_value)}"
    if event.reason:
        what += f" ({event.reason})"
    data["what"] = what
    summary = f"{ticket.reference} · {what}"
    return Payload(event_name=event_name, summary=summary[:300], data=data)


def payload_for_test(webhook: Webhook, *, actor_name: str) -> Payload:
    """What "Send test" posts: the shape of a real event, about no ticket."""
    tenant = webhook.tenant
    what = f"{actor_name} sent a test from the help desk's webhook settings"
    data = {
        "event": "test",
        "occurred_at": timezone.now().isoformat(),
        "helpdesk": {"slug": tenant.slug, "name": tenant.name},
        "ticket": {
            "reference": f"{tenant.ticket_prefix}-0",
            "number": 0,
            "subject": "Test from the help desk",
            "status": Ticket.Status.OPEN,
            "priority": Ticket.Priority.NORMAL.label,
            "group": None,
            "assignee": None,
            "url": settings.SITE_URL + reverse("tickets:webhooks", args=[tenant.slug]),
        },
        "actor": {"type": "agent", "name": actor_name},
        "what": what,
    }
    return Payload(event_name="test", summary=f"Test · {what}"[:300], data=data)
