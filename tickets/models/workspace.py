"""The agents' workspace: saved queue views and canned responses."""

from django.conf import settings
from django.db import models

from helpdesk.models import SupportGroup, TenantOwned


class SavedView(TenantOwned):
    """A queue with filters and a sort, saved by an agent for themself or
    shared by a manager with a group."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    queue = models.CharField(max_length=40)
    # The filter form's query string, as the queue page reads it.
    query = models.CharField(max_length=1000, blank=True)
    shared_with = models.ForeignKey(
        SupportGroup,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["tenant", "owner"], name="savedview_owner_idx")]


class CannedResponse(TenantOwned):
    """A reply text admins keep ready; {requester_name}, {ticket_number} and
    {agent_name} are filled in when an agent inserts it."""

    title = models.CharField(max_length=120)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "title"], name="cannedresponse_unique_title")
        ]

    def __str__(self) -> str:
        return self.title
