"""Email intake: store the raw message first, parse it second.

The webhook commits the bytes before it answers, so a message is never lost;
parsing runs in a task and can fail without losing anything: the message is
quarantined with the reason, shown to admins, and can be processed again.
"""

from .filing import (
    inbound_process,
    inbound_process_pending,
    inbound_quarantined,
)
from .parse import ParsedEmail, Unprocessable, parse_email
from .store import inbound_schedule, inbound_schedule_taken, inbound_store

__all__ = [
    "ParsedEmail",
    "Unprocessable",
    "inbound_process",
    "inbound_process_pending",
    "inbound_quarantined",
    "inbound_schedule",
    "inbound_schedule_taken",
    "inbound_store",
    "parse_email",
]
