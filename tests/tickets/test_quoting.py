"""Quoted history folded away on the ticket page: replies from each common
mail client, in HTML and in text, in the languages customers write in."""

import html as html_lib
import re
import time
from pathlib import Path

import pytest
from django.urls import reverse
from selectolax.lexbor import LexborHTMLParser

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tests.tickets.test_intake import _post, _process_all
from tickets import services
from tickets.models import Attachment, InboundEmail, Message
from tickets.quoting import split_quoted, split_quoted_html
from tickets.services.tickets import sanitize_html

QUOTES = Path(__file__).parent / "mail_corpus" / "quotes"
_BREAK = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote|summary)\s*>|<hr\b[^>]*>")


def _text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: one line per block or <br>,
    white space collapsed, blank lines dropped."""
    fragment = " ".join(fragment.split())  # a newline in HTML source is a space
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", _BREAK.sub("\n", fragment)))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _shown(page_html: str) -> tuple[str, str]:
    """(visible text, folded text) of the one message on a ticket page."""
    body = LexborHTMLParser(page_html).css_first(".msg-body")
    folded = body.css("details.quoted")
    assert len(folded) <= 1
    quoted = ""
    if folded:
        summary = folded[0].css_first("summary")
        assert summary.text() == "Show quoted text"
        summary.decompose()
        quoted = _text(folded[0].inner_html)
        folded[0].decompose()
    return _text(body.inner_html), quoted


def _file_and_show(client, tenant, mailbox, agent, login, name: str) -> tuple[str, str]:
    """Deliver a mail as the webhook and worker do; what the agent then sees."""
    _post(client, tenant, mailbox, (QUOTES / name).read_bytes())
    _process_all(tenant)
    with tenant_context(tenant):
        inbound = InboundEmail.objects.get()
        assert inbound.status == "processed", inbound.reason
        ticket = Message.objects.get().ticket
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    return _shown(page.content.decode())


# (mail, what stays in view exactly, lines that must be in the folded part)
FOLDED = [
    # Gmail: div.gmail_quote around the attribution and blockquote.gmail_quote
    (
        "gmail_html_en.eml",
        "Thanks, the export works again.\nSam",
        ["On Mon, 23 Nov 2026 at 09:00, Acme Support <help@acme.example> wrote:",
         "Please try the export again now."],
    ),
    (
        "gmail_html_pt.eml",
        "Obrigado, a nova fatura está correta.\nJoão",
        ["Em seg., 23 de nov. de 2026 às 09:00, Acme Support <help@acme.example> escreveu:",
         "Enviámos uma nova fatura."],
    ),
    (
        "gmail_html_sv.eml",
        "Tack, nu fungerar det.\nErik",
        ["Den mån 23 nov. 2026 kl 09:00 skrev Acme Support <help@acme.example>:",
         "kan du försöka igen?"],
    ),
    # Gmail, plain text: the attribution, wrapped over two lines in some
    ("gmail_text_es.eml", "Gracias, ya funciona.\nLucía", ["escribió:", "> ¿Puedes intentarlo de nuevo?"]),
    ("gmail_text_de.eml", "Danke, jetzt klappt es.\nJörg", ["help@acme.example>:", "> bitte versuche es noch einmal."]),
    ("gmail_text_fr.eml", "Parfait, merci beaucoup !\nCamille", ["a écrit :", "> Nous avons annulé la facture en double."]),
    ("gmail_text_it.eml", "Perfetto, grazie.\nMarco", ["help@acme.example> ha scritto:", "> ha provato a reimpostare la password?"]),
    ("gmail_text_nl.eml", "Bedankt, nu klopt het.\nSanne", ["schreef Acme Support <help@acme.example>:", "> We hebben de factuur aangepast."]),
    # Outlook desktop: the header block under a border-top rule, no blockquote
    (
        "outlook_desktop_html_de.eml",
        "Hallo,\nder Export funktioniert jetzt, danke.\nViele Grüße\nJörg Schäfer",
        ["Von: Acme Support <help@acme.example>", "Gesendet: Montag, 23. November 2026 09:00",
         "bitte versuchen Sie den Export erneut."],
    ),
    (
        "outlook_desktop_html_es.eml",
        "Buenos días:\nYa está resuelto, gracias.\nSaludos,\nLucía",
        ["De: Acme Support <help@acme.example>", "Enviado el: lunes, 23 de noviembre de 2026 9:00",
         "Hemos cancelado el pedido duplicado."],
    ),
    # Outlook on the web: #appendonsend, <hr>, #divRplyFwdMsg
    (
        "owa_html_en.eml",
        "Thanks, the invoice is correct now.\nPriya",
        ["From: Acme Support <help@acme.example>", "Subject: Re: Wrong VAT number on invoice",
         "We corrected the VAT number; the new invoice is attached."],
    ),
    (
        "owa_html_nl.eml",
        "Dank je, de nieuwe factuur klopt.\nGroet,\nSanne",
        ["Van: Acme Support <help@acme.example>", "Onderwerp: Re: Factuur klopt niet",
         "We hebben het btw-nummer aangepast."],
    ),
    # Outlook, plain text: the header block, with or without the "____" rule
    (
        "outlook_text_fr.eml",
        "Bonjour,\nC'est réglé, merci.\nCamille Martin",
        ["________________________________", "Envoyé : lundi 23 novembre 2026 09:00",
         "Nous avons annulé la facture en double."],
    ),
    ("outlook_text_it.eml", "Grazie mille.\nMarco", ["Da: Acme Support <help@acme.example>", "Oggetto: R: Password non funziona"]),
    ("outlook_text_sv.eml", "Tack, det fungerar nu.\nAnna", ["Från: Acme Support <help@acme.example>", "Ämne: SV: Kan inte logga in"]),
    ("outlook_text_pt.eml", "Obrigado, já está resolvido.\nJoão", ["De: Acme Support <help@acme.example>", "Assunto: RE: Fatura errada"]),
    (
        "outlook_original_message_de.eml",
        "Hallo,\nanbei die Rechnung.\nGruß\nKlaus",
        ["-----Ursprüngliche Nachricht-----", "bitte senden Sie uns die Rechnung."],
    ),
    ("outlook_original_message_fr.eml", "Voici le fichier.\nLuc", ["-----Message d'origine-----", "il manque le fichier joint."]),
    ("outlook_original_message_en.eml", "It is out now, thanks.", ["-----Original Message-----", "Please unplug the printer."]),
    # Apple Mail: the attribution inside blockquote type=cite; in text, quoted too
    (
        "apple_html_fr.eml",
        "Merci, tout fonctionne maintenant.\nCamille",
        ["Le 23 nov. 2026 à 09:00, Acme Support <help@acme.example> a écrit :",
         "Pouvez-vous réessayer l’export ?"],
    ),
    (
        "apple_html_it.eml",
        "Ora funziona, grazie.\nGiulia",
        ["Il giorno 23 nov 2026, alle ore 09:00, Acme Support <help@acme.example> ha scritto:",
         "può riprovare?"],
    ),
    (
        "apple_text_en.eml",
        "That did it, thank you!\nSent from my iPhone",
        ["> On 23 Nov 2026, at 09:00, Acme Support <help@acme.example> wrote:", "> Please try the export again now."],
    ),
    # Thunderbird: div.moz-cite-prefix (wrapped in the source) and blockquote type=cite
    (
        "thunderbird_html_it.eml",
        "Grazie, ora l'esportazione funziona.\nGiulia",
        ["Il 23/11/2026 09:00, Acme Support ha scritto:", "può riprovare l'esportazione?"],
    ),
    # format=flowed: the attribution wraps onto a second line
    (
        "thunderbird_text_nl.eml",
        "Bedankt, het is opgelost.\nSanne",
        ["Op 23-11-2026 om 09:00 schreef Acme Support - Klantenservice Benelux", "(help@acme.example):",
         "> We hebben de factuur aangepast."],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "visible", "folded"), FOLDED, ids=[row[0] for row in FOLDED])
def test_quoted_history_is_folded_for_each_client_and_language(
    client, tenant, mailbox, agent, login, name, visible, folded
):
    shown, quoted = _file_and_show(client, tenant, mailbox, agent, login, name)
    assert shown == visible
    for line in folded:
        assert line in quoted.splitlines() or line in quoted, (line, quoted)


def test_every_quote_mail_in_the_corpus_is_covered():
    covered = {row[0] for row in FOLDED} | {
        "gmail_forward_only.eml",
        "thunderbird_html_interleaved.eml",
    }
    assert covered == {path.name for path in QUOTES.glob("*.eml")}


def test_a_forward_with_no_text_of_its_own_is_shown_whole(client, tenant, mailbox, agent, login):
    shown, quoted = _file_and_show(client, tenant, mailbox, agent, login, "gmail_forward_only.eml")
    assert quoted == ""
    assert shown.splitlines()[0] == "---------- Forwarded message ---------"
    assert shown.splitlines()[-1] == "Your order 4411 has shipped. Tracking: ZX-991"


def test_answers_written_between_the_quoted_lines_stay_in_view(
    client, tenant, mailbox, agent, login
):
    shown, quoted = _file_and_show(
        client, tenant, mailbox, agent, login, "thunderbird_html_interleaved.eml"
    )
    assert quoted == ""
    assert shown == (
        "Answers below.\nOn 23/11/2026 09:00, Acme Support wrote:\n"
        "Which version do you use?\nVersion 4.2.\nAnd which browser?\nFirefox 140."
    )


# ------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("text", "own"),
    [
        ("Thanks!\n\nOn Mon, 3 Nov 2026, Pat <p@x.example> wrote:\n> Hello", "Thanks!"),
        ("Works now.\n> old line\n>\n> older", "Works now."),
        ("See below\n-----Original Message-----\nFrom: x", "See below"),
        ("No quote here.\nJust text.", "No quote here.\nJust text."),
        ("> only a quote", "> only a quote"),
        ("Inline > not a quote\nmore", "Inline > not a quote\nmore"),
        # A sentence that merely ends in "wrote:" with no address, time or
        # quote after it is the customer's own text.
        ("Hi\nOn Monday I wrote:\n- a\n- b", "Hi\nOn Monday I wrote:\n- a\n- b"),
        ("Hi\nAm Montag schrieb ich Ihnen:\nBitte antworten.", "Hi\nAm Montag schrieb ich Ihnen:\nBitte antworten."),
        # A reply written below the quote is not folded away with it.
        ("On X wrote:\n> question?\n\nMy answer.", "On X wrote:\n> question?\n\nMy answer."),
        # Yahoo and Outlook for phones quote without ">".
        ("Fine now.\n\nOn Monday, November 23, 2026, 09:00:00 AM GMT+1, Acme <help@acme.example> wrote:\n\nHi Sam,", "Fine now."),
        # A rule alone is a signature line, not Outlook's quote.
        ("Thanks\n______________________\nACME Corp, Main St 1", "Thanks\n______________________\nACME Corp, Main St 1"),
        # From/To in the customer's own words is not a header block.
        ("Trip:\nFrom: Berlin\nTo: Paris\nWhen: Monday", "Trip:\nFrom: Berlin\nTo: Paris\nWhen: Monday"),
        # Header labels that Outlook writes in bold in its text version.
        ("Ok.\n\n*From:* Acme <help@acme.example>\n*Sent:* Monday\n*To:* Sam\n*Subject:* Re: x\n\nOld", "Ok."),
        ("Klaar.\n\n-----Oorspronkelijk bericht-----\nVan: Acme", "Klaar."),
        ("Fatto.\n\n-----Messaggio originale-----\nDa: Acme", "Fatto."),
        ("Klart.\n\n-----Ursprungligt meddelande-----\nFrån: Acme", "Klart."),
        ("Listo.\n\n-----Mensaje original-----\nDe: Acme", "Listo."),
        ("Feito.\n\n-----Mensagem original-----\nDe: Acme", "Feito."),
        ("Voilà.\n\n-----Message d’origine-----\nDe : Acme", "Voilà."),
        (
            "Obrigado.\n\nAcme Support <help@acme.example> escreveu no dia segunda, 23/11/2026 à(s) 09:00:\n\n> Olá",
            "Obrigado.",
        ),
        (
            "Tack.\n\n23 nov. 2026 kl. 09:00 skrev Acme Support <help@acme.example>:\n\n> Hej",
            "Tack.",
        ),
        (
            "Dank.\n\nOp 23 nov. 2026, om 09:00 heeft Acme Support <help@acme.example> het volgende geschreven:\n\n> Hoi",
            "Dank.",
        ),
    ],
)  # fmt: skip
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


# ------------------------------------------------------------------ HTML

# Mail stored before the sanitiser kept the clients' marks (or from a
# client that writes none) still folds on its words alone.
ATTRIBUTIONS = [
    "On Mon, 23 Nov 2026 at 09:00, Acme Support &lt;help@acme.example&gt; wrote:",
    "Am Mo., 23. Nov. 2026 um 09:00 Uhr schrieb Acme Support &lt;help@acme.example&gt;:",
    "Le lun. 23 nov. 2026 à 09:00, Acme Support &lt;help@acme.example&gt; a écrit :",
    "El lun, 23 nov 2026 a las 9:00, Acme Support (&lt;help@acme.example&gt;) escribió:",
    "Op ma 23 nov 2026 om 09:00 schreef Acme Support &lt;help@acme.example&gt;:",
    "Em seg., 23 de nov. de 2026 às 09:00, Acme Support &lt;help@acme.example&gt; escreveu:",
    "Il giorno lun 23 nov 2026 alle ore 09:00 Acme Support &lt;help@acme.example&gt; ha scritto:",
    "Den mån 23 nov. 2026 kl 09:00 skrev Acme Support &lt;help@acme.example&gt;:",
    "W dniu 23.11.2026 o 09:00, Acme Support &lt;help@acme.example&gt; napisał:",
]


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_attributions_fold_html_without_client_marks(attribution):
    html = sanitize_html(
        f"<div>Solved, thanks.</div><div><br></div><div>{attribution}</div>"
        "<blockquote><div>Earlier mail</div></blockquote>"
    )
    own, quoted = split_quoted_html(html)
    assert _text(own) == "Solved, thanks."
    assert _text(quoted).splitlines() == [html_lib.unescape(attribution), "Earlier mail"]


HEADER_BLOCKS = [
    ("From:", "Sent:", "To:", "Subject:"),
    ("Von:", "Gesendet:", "An:", "Betreff:"),
    ("De&nbsp;:", "Envoyé&nbsp;:", "À&nbsp;:", "Objet&nbsp;:"),
    ("De:", "Enviado:", "Para:", "Asunto:"),
    ("Van:", "Verzonden:", "Aan:", "Onderwerp:"),
    ("Da:", "Inviato:", "A:", "Oggetto:"),
    ("Från:", "Skickat:", "Till:", "Ämne:"),
    ("De:", "Enviado:", "Para:", "Assunto:"),
]


@pytest.mark.parametrize("labels", HEADER_BLOCKS, ids=[labels[0] for labels in HEADER_BLOCKS])
def test_outlook_header_blocks_fold_in_each_language(labels):
    values = ["Acme &lt;help@acme.example&gt;", "23.11.2026 09:00", "Sam", "Re: Export"]
    header = "<br>".join(
        f"<b>{label}</b> {value}" for label, value in zip(labels, values, strict=True)
    )
    # Outlook desktop's shape after sanitising: the rule's style is gone.
    html = sanitize_html(
        "<div><p>Done.</p><p>&nbsp;</p>"
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        f"<p>{header}</p></div><p>&nbsp;</p><p>Old text</p></div>"
    )
    own, quoted = split_quoted_html(html)
    assert _text(own) == "Done."
    assert _text(quoted).splitlines()[-1] == "Old text"
    first_line = " ".join(html_lib.unescape(f"{labels[0]} {values[0]}").split())
    assert _text(quoted).splitlines()[0] == first_line


def test_the_sanitiser_keeps_only_the_quote_marks():
    html = sanitize_html(
        '<div class="gmail_quote evil" id="divRplyFwdMsg" style="color:red">'
        '<blockquote type="cite" class="gmail_quote x">q</blockquote>'
        '<blockquote type="other">r</blockquote><div id="main">s</div></div>'
    )
    assert html == (
        '<div class="gmail_quote" id="divRplyFwdMsg"><blockquote type="cite" class="gmail_quote">'
        "q</blockquote><blockquote>r</blockquote><div>s</div></div>"
    )


def test_an_html_reply_shows_its_own_html_with_the_quote_folded(tenant, agent, login):
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Export fails",
            body="It <works> now.\n\nOn Mon, 23 Nov 2026 at 09:00, Acme <help@acme.example> wrote:\n> Try again",
            requester_email="sam@customer.example",
            body_html='<div>It <b>works</b> now.</div><div class="gmail_quote">'
            "<div>On Mon, 23 Nov 2026 at 09:00, Acme wrote:</div>"
            "<blockquote class='gmail_quote'>Try <i>again</i></blockquote></div>",
        )
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = LexborHTMLParser(page.content.decode()).css_first(".msg-body").inner_html
    assert body == (
        "<div>It <b>works</b> now.</div>"
        '<details class="quoted"><summary>Show quoted text</summary>'
        '<div class="gmail_quote"><div>On Mon, 23 Nov 2026 at 09:00, Acme wrote:</div>'
        '<blockquote class="gmail_quote">Try <i>again</i></blockquote></div></details>'
    )


def test_html_that_is_nothing_but_a_quote_is_not_folded_away():
    html = sanitize_html(
        "<div><br></div><div>On Mon, 23 Nov 2026 at 09:00, Acme wrote:</div><blockquote>q</blockquote>"
    )
    assert split_quoted_html(html) == (html, "")


def test_hostile_html_is_split_quickly_and_whole():
    # Deep nesting (walked without recursion), many lines, a long line that
    # almost matches every attribution pattern.
    deep = "<div>" * 5000 + "Own" + "</div>" * 5000
    lines = "<br>".join(f"line {number}: On and on wrote" for number in range(20000))
    near_miss = "On " + "x wrote " * 5000
    html = sanitize_html(
        f"{deep}<p>{lines}</p><p>{near_miss}</p><div>On 23/11/2026 09:00, Acme wrote:</div>"
        "<blockquote>old</blockquote>"
    )
    started = time.process_time()  # this process's CPU: other load does not count
    own, quoted = split_quoted_html(html)
    assert time.process_time() - started < 5
    assert "line 19999: On and on wrote" in own
    assert _text(quoted) == "On 23/11/2026 09:00, Acme wrote:\nold"


def test_hostile_text_is_split_quickly():
    # Thousands of attributions, each answered below its quote, and a flood
    # of header-like lines: every rule stays linear in the mail's length.
    answered = "\n".join(["On 23/11/2026 09:00, X <x@y.example> wrote:", "> q", "answer"] * 20000)
    headers = "\n".join(["From: a", "To: b"] * 20000)
    # CPU time of this process: other work on the machine does not count.
    started = time.process_time()
    assert split_quoted(answered) == (answered, "")
    assert split_quoted(headers) == (headers, "")
    own, quoted = split_quoted(f"{headers}\n\nOn 23/11/2026 09:00, X wrote:\n> q")
    assert time.process_time() - started < 5
    assert (own, quoted) == (headers, "On 23/11/2026 09:00, X wrote:\n> q")


def test_a_quote_only_the_text_version_shows_folds_the_text_and_lists_the_images(
    tenant, agent, login
):
    # The HTML quotes with "&gt;" lines, which only the text version marks;
    # the folded text view then lists the images the HTML showed in place.
    with tenant_context(tenant):
        ticket = services.ticket_create(
            subject="Export fails",
            body="Still failing, see the screenshot.\n\n> Could you send a screenshot?",
            requester_email="sam@customer.example",
            body_html='<div>Still failing, see the screenshot.</div><img src="cid:shot@customer.example" '
            'alt="new"><div>&gt; Could you send a screenshot?</div>',
        )
        image = Attachment.objects.create(
            tenant=tenant,
            message=ticket.messages.get(),
            storage_key="c" * 32,
            filename="shot.png",
            content_type="image/png",
            size=1,
            content_id="shot@customer.example",
        )
    page = login(agent).get(reverse("tickets:detail", args=[tenant.slug, ticket.number]))
    body = LexborHTMLParser(page.content.decode()).css_first(".msg-body").inner_html
    url = reverse("tickets:attachment", args=[tenant.slug, ticket.number, image.pk])
    assert body == (
        "<p>Still failing, see the screenshot.</p>"
        f'<p class="inline-images"><img src="{url}" alt="shot.png"></p>'
        '<details class="quoted"><summary>Show quoted text</summary>'
        "<p>&gt; Could you send a screenshot?</p></details>"
    )
