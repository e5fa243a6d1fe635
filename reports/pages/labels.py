"""Names for the ids the report pages group by: from the page's tenant
choices (read once per request), and for the few ids not among them (an
archived group, a former agent) in one query per kind."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from helpdesk.models import SupportGroup
from tickets.models import Category, Ticket

CHANNELS = dict(Ticket.Channel.choices)
STATUSES = dict(Ticket.Status.choices)


class Labels:
    def __init__(self, choices):
        self.agents = dict(choices.agents)
        self.groups = dict(choices.groups)
        self.categories = dict(choices.categories)

    def fill(self, *, agents=(), groups=(), categories=()) -> None:
        """Read the names of ids not among the choices (one query per kind
        that has any)."""
        missing = {i for i in agents if i is not None and i not in self.agents}
        if missing:
            for user in get_user_model().objects.filter(pk__in=missing):
                self.agents[user.pk] = user.get_full_name() or user.username
        missing = {int(i) for i in groups if i and int(i) not in self.groups}
        if missing:
            self.groups.update(
                SupportGroup.objects.filter(pk__in=missing).values_list("pk", "name")
            )
        missing = {i for i in categories if i is not None and i not in self.categories}
        if missing:
            self.categories.update(
                (c.pk, str(c))
                for c in Category.objects.filter(pk__in=missing).select_related("parent")
            )

    def agent(self, user_id) -> str:
        return "Nobody" if user_id is None else self.agents.get(user_id, f"Agent {user_id}")

    def group(self, group_id) -> str:
        if group_id in (None, ""):
            return "No group"
        return self.groups.get(int(group_id), f"Group {group_id}")

    def category(self, category_id) -> str:
        if category_id is None:
            return "No category"
        return self.categories.get(category_id, f"Category {category_id}")

    @staticmethod
    def channel(channel) -> str:
        return CHANNELS.get(channel, channel)

    @staticmethod
    def status(status) -> str:
        return STATUSES.get(status, status)
