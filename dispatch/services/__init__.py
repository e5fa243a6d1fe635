"""Dispatch's writes: routing (`routing`, `claims`, `drain`), assignments
people ask for (`manual`) and admins' settings (`settings`)."""

from .drain import agent_groups_drain, group_drain, waiting_sweep
from .manual import (
    ESCALATED_KIND,
    recommendation_review,
    reviews_pending,
    ticket_escalate,
    ticket_get_next,
)
from .routing import SOURCE, WAITING_WORK, statuses_locked, ticket_route
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
