"""Dispatch's writes: routing (`routing`) and admins' settings (`settings`)."""

from .routing import (
    ESCALATED_KIND,
    SOURCE,
    WAITING_WORK,
    agent_groups_drain,
    group_drain,
    recommendation_review,
    reviews_pending,
    statuses_locked,
    ticket_escalate,
    ticket_get_next,
    ticket_route,
    waiting_sweep,
)
from .settings import (
    agent_capacity_set,
    availability_set,
    dispatch_settings_save,
    group_dispatch_save,
    known_values,
    rule_delete,
    rule_move,
    rule_save,
    rule_set_enabled,
)

__all__ = [
    "ESCALATED_KIND", "SOURCE", "WAITING_WORK", "agent_capacity_set", "agent_groups_drain",
    "availability_set", "dispatch_settings_save", "group_dispatch_save", "group_drain", "known_values",
    "recommendation_review", "reviews_pending", "rule_delete", "rule_move", "rule_save",
    "rule_set_enabled", "statuses_locked", "ticket_escalate", "ticket_get_next", "ticket_route",
    "waiting_sweep",
]  # fmt: skip
