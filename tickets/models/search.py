"""The words of subjects, requesters and messages, kept apart for search.

One row per ticket, contact and message, written by triggers on those
tables (migration 0018), so every write (services, bulk loads, raw SQL)
keeps them current with no code to forget. They are tables of their own, not
columns of the tickets, because of row-level security: the planner may not
answer a text match from an index ahead of a tenant policy (the match is not
LEAKPROOF, and only a superuser can mark it so), which made every search
read all of a tenant's rows. These tables enable row-level security without
FORCE, so their owner skips the policy, and the one SECURITY DEFINER
function `tickets_search_matches` reads them as the owner, filtered by the
policy's own tenant predicate (tickets/search.py, README "Search").

Not TenantOwned: the post-migrate step would FORCE the policy on the owner.
The app's role still meets the policy when it reads these tables itself.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class TicketSearch(models.Model):
    """The words of a ticket's subject (weight A: outranks a message)."""

    ticket_id = models.BigIntegerField(primary_key=True)
    tenant_id = models.BigIntegerField()
    search_vector = SearchVectorField()

    class Meta:
        db_table = "tickets_ticket_search"
        # btree_gin lets the tenant lead the index, as in every tenant index.
        indexes = [GinIndex(fields=["tenant_id", "search_vector"], name="search_ticket_idx")]


class ContactSearch(models.Model):
    """The words of a contact's name and address (weight B)."""

    contact_id = models.BigIntegerField(primary_key=True)
    tenant_id = models.BigIntegerField()
    search_vector = SearchVectorField()

    class Meta:
        db_table = "tickets_contact_search"
        indexes = [GinIndex(fields=["tenant_id", "search_vector"], name="search_contact_idx")]


class MessageSearch(models.Model):
    """The words of a message's text (weight D), with its ticket."""

    message_id = models.BigIntegerField(primary_key=True)
    tenant_id = models.BigIntegerField()
    ticket_id = models.BigIntegerField()
    search_vector = SearchVectorField()

    class Meta:
        db_table = "tickets_message_search"
        indexes = [GinIndex(fields=["tenant_id", "search_vector"], name="search_message_idx")]
