"""Text of a size people do send (a pasted log, an exported table as HTML,
a thread forwarded whole): about a megabyte of words that are nearly all
different. Every way a message is written takes it, and its beginning is
found by search."""

import random

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tests.tickets.test_intake import _post, _process_all, mail
from tickets import services
from tickets.models import InboundEmail, Message
from tickets.search import ticket_search


def _log(size: int = 1_300_000) -> str:
    """A log-like text of `size` characters whose words barely repeat
    (Postgres refuses a tsvector over 1 MB: these are the texts that reach it)."""
    rng = random.Random(7)
    words, length = ["needle"], 6
    while length < size:
        word = f"{rng.getrandbits(40):x}"
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def test_a_new_ticket_of_a_megabyte_of_distinct_words_is_opened(tenant):
    # The path of the web form, the API and an agent's new ticket.
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Log attached inline", body=_log())
        assert [hit.ticket for hit in ticket_search(query="needle").hits] == [ticket]


def test_an_agents_reply_of_a_megabyte_of_distinct_words_is_kept_and_found(tenant, agent):
    text = _log()
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Export")
        message = services.message_add(
            ticket=ticket, kind=Message.Kind.REPLY, body=text, author_user=agent
        )
        assert len(Message.objects.get(pk=message.pk).body_text) == len(text)
        assert [hit.ticket for hit in ticket_search(query="needle").hits] == [ticket]


def test_a_mail_of_a_megabyte_of_distinct_words_is_filed_not_quarantined(client, tenant, mailbox):
    raw = mail(subject="Our full export", body=_log()).replace(b"\r\n", b"\n")
    assert _post(client, tenant, mailbox, raw).status_code == 202
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
        assert inbound.status == "processed", inbound.reason
        assert Message.objects.get(pk=inbound.message_id).body_text.startswith("needle ")
