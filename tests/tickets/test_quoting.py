import pytest
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import services
from tickets.models import Message
from tickets.quoting import split_quoted


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("Thanks!\n\nOn Mon, 3 Nov 2026, Pat <p@x.example> wrote:\n> Hello", "Thanks!"),
        ("Works now.\n> old line\n>\n> older", "Works now."),
        ("See below\n-----Original Message-----\nFrom: x", "See below"),
        ("No quote here.\nJust text.", "No quote here.\nJust text."),
        ("> only a quote", "> only a quote"),
        ("Inline > not a quote\nmore", "Inline > not a quote\nmore"),
    ],
)
def test_split_quoted_finds_where_the_quote_starts(text, own):
    assert split_quoted(text)[0] == own


def test_the_timeline_folds_quoted_text_but_keeps_it(tenant, agent, login):
    with tenant_context(tenant):
        ticket = TicketFactory()
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            body="It works now, thanks.\n\nOn Monday, Alex wrote:\n> Please try again <b>now</b>",
            author_contact=ticket.requester,
        )
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    html = page.content.decode()
    assert "<p>It works now, thanks.</p>" in html
    assert '<details class="quoted"><summary>Show quoted text</summary>' in html
    assert "&gt; Please try again &lt;b&gt;now&lt;/b&gt;" in html  # kept, escaped
