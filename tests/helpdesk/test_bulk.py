"""`rows_insert` writes what `bulk_create` would: every value read back the
same, whatever it holds (quotes, backslashes, array-looking text, JSON of
every shape, the string "NULL"), and each instance gets its own row's key."""

import datetime

from django.utils import timezone

from helpdesk.bulk import rows_insert
from tests.factories import TicketFactory
from tickets.events import event_build
from tickets.models import Event

AWKWARD = [
    "plain",
    'it\'s "quoted"',
    'back\\slash \\" and \\\\',
    "{looks,like,an,array}",
    "NULL",
    "",
    "line\nbreak\ttab",
    "ümlaut · 中文 · emoji 🎫",
]
JSON_SHAPES = [
    None,
    'text with "quotes" and \\',
    42,
    3.5,
    True,
    [1, "two", None, {"three": [3]}],
    {"nested": {"quote": "'\"", "list": ["{a,b}", "NULL"]}},
    "",
]


def test_rows_insert_writes_every_value_as_bulk_create_would(in_tenant):
    ticket = TicketFactory()
    at = timezone.now().replace(microsecond=123456) - datetime.timedelta(days=3)
    events = [
        event_build(
            ticket=ticket, kind=Event.Kind.FIELD_CHANGED, field="subject",
            reason=reason, old_value=old, new_value=JSON_SHAPES[-1 - n],
            created_at=at + datetime.timedelta(seconds=n), is_public=n % 2 == 0,
        )
        for n, (reason, old) in enumerate(zip(AWKWARD, JSON_SHAPES, strict=True))
    ]  # fmt: skip
    rows_insert(events)
    keys = [event.pk for event in events]
    assert all(keys) and keys == sorted(keys)  # each its own row, in order
    for n, event in enumerate(events):
        stored = Event.objects.get(pk=event.pk)
        assert stored.reason == AWKWARD[n]
        assert stored.old_value == JSON_SHAPES[n]
        assert stored.new_value == JSON_SHAPES[-1 - n]
        assert stored.created_at == at + datetime.timedelta(seconds=n)
        assert stored.is_public is (n % 2 == 0)
        assert stored.ticket_id == ticket.pk and stored.tenant_id == ticket.tenant_id
        assert stored.actor_user_id is None and stored.processed_at is None
    # A None in a JSON column is SQL NULL, as bulk_create writes it.
    assert Event.objects.filter(pk=keys[0], old_value__isnull=True).exists()


def test_rows_insert_of_nothing_writes_nothing(in_tenant):
    before = Event.objects.count()
    assert rows_insert([]) == []
    assert Event.objects.count() == before
