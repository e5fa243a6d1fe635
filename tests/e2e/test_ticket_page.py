"""The ticket page as agents use it together: edits made on a page a
colleague changed meanwhile, a page that keeps itself current, the
composer's two modes and the keyboard."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import PASSWORD, SupportGroupFactory, TicketFactory
from tickets import services
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def ticket(tenant):
    with tenant_context(tenant):
        return TicketFactory(subject="Printer on fire", body="Smoke from tray 2.")


@pytest.fixture
def ticket_url(live_server, tenant, ticket):
    return f"{live_server.url}/{tenant.slug}/tickets/{ticket.number}/"


@pytest.fixture
def colleague_page(browser, live_server):
    """A second browser, for a colleague working at the same time."""
    contexts = []

    def open_as(user):
        context = browser.new_context()
        contexts.append(context)
        other = context.new_page()
        other.goto(f"{live_server.url}/accounts/login/")
        other.get_by_label("Username").fill(user.username)
        other.get_by_label("Password").fill(PASSWORD)
        other.get_by_role("button", name="Log in", exact=True).click()
        expect(other.get_by_role("button", name="Log out")).to_be_visible()
        return other

    yield open_as
    for context in contexts:
        context.close()


def _details(page):
    return page.locator("#details-panel")


def test_a_colleagues_change_survives_an_edit_made_on_an_older_page(
    page, log_in, colleague_page, tenant, agent, dispatcher, ticket, ticket_url, settings
):
    settings.TICKET_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        SupportGroupFactory(name="Billing")
    log_in(agent)
    page.goto(ticket_url)
    # The agent starts an edit: the live refresh must leave it alone.
    _details(page).get_by_label("Priority").select_option(label="Urgent")

    colleague = colleague_page(dispatcher)
    colleague.goto(ticket_url)
    _details(colleague).get_by_label("Group").select_option(label="Billing")
    _details(colleague).get_by_role("button", name="Save changes").click()
    expect(colleague.get_by_role("status").first).to_contain_text("Saved.")

    # Meanwhile the header of the agent's page shows the colleague's group,
    # and the half-made edit is still there.
    expect(page.locator("#ticket-summary")).to_contain_text("Billing", timeout=10_000)
    expect(_details(page).get_by_label("Priority")).to_have_value("4")
    _details(page).get_by_role("button", name="Save changes").click()

    expect(page.locator(".flash")).to_contain_text(
        f"Meanwhile {dispatcher.get_full_name()} changed group to Billing"
    )
    expect(_details(page).get_by_label("Group")).to_have_value(re.compile(r"\d+"))
    with tenant_context(tenant):
        ticket.refresh_from_db()
        assert (ticket.priority, ticket.group.name) == (4, "Billing")


def test_both_changing_the_same_field_is_refused_with_both_values_shown(
    page, log_in, colleague_page, tenant, agent, dispatcher, ticket, ticket_url, settings
):
    settings.TICKET_REFRESH_SECONDS = 600  # the page stays as it was opened
    log_in(agent)
    page.goto(ticket_url)
    colleague = colleague_page(dispatcher)
    colleague.goto(ticket_url)
    _details(colleague).get_by_label("Priority").select_option(label="High")
    _details(colleague).get_by_role("button", name="Save changes").click()
    expect(colleague.locator(".ticket-summary .prio")).to_have_text("High")

    _details(page).get_by_label("Priority").select_option(label="Low")
    _details(page).get_by_label("Type").select_option(label="Incident")
    _details(page).get_by_role("button", name="Save changes").click()

    expect(page.get_by_role("alert")).to_contain_text("also changed priority")
    expect(_details(page).locator(".is-clash .theirs")).to_have_text(
        f"Also changed by {dispatcher.get_full_name()} to High; yours is selected"
    )
    expect(_details(page).get_by_label("Priority")).to_have_value("1")
    expect(_details(page).get_by_label("Type")).to_have_value("incident")
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.priority, ticket.type) == (3, "question")

    # Having seen it, the agent keeps their own choice.
    _details(page).get_by_role("button", name="Save changes").click()
    expect(page.locator(".ticket-summary .prio")).to_have_text("Low")
    with tenant_context(tenant):
        ticket.refresh_from_db()
    assert (ticket.priority, ticket.type) == (1, "incident")


def test_the_page_shows_what_happens_while_it_is_open_and_keeps_the_draft(
    page, log_in, tenant, agent, dispatcher, ticket, ticket_url, settings
):
    settings.TICKET_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        services.ticket_change_status(
            ticket=ticket, actor=agent, status="pending", expected_version=None
        )
    log_in(agent)
    page.goto(ticket_url)
    status = page.locator(".ticket-summary .status")
    expect(status).to_have_text("Pending")
    box = page.get_by_label("Message")
    box.fill("Half-written answer")
    box.focus()

    with tenant_context(tenant):
        ticket.refresh_from_db()
        requester = ticket.requester.display_name
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            body="It is still smoking!",
            author_contact=ticket.requester,
        )
        ticket.refresh_from_db()
        services.ticket_update(
            ticket=ticket, actor=dispatcher, expected_version=ticket.version, priority=4
        )

    new = page.locator(".timeline .msg.is-new").filter(has_text="It is still smoking!")
    expect(new).to_be_visible(timeout=10_000)
    expect(new.locator(".new-badge")).to_have_text("New")
    expect(page.locator("#ticket-live")).to_contain_text(f"1 new message from {requester}.")
    expect(page.locator("#ticket-live")).to_contain_text(
        f"{dispatcher.get_full_name()} changed priority."
    )
    expect(status).to_have_text("Open")
    expect(page.locator(".ticket-summary .prio")).to_have_text("Urgent")
    # The draft and the focus are where the agent left them, and sending it
    # now is not refused as made on an old page.
    expect(box).to_have_value("Half-written answer")
    expect(box).to_be_focused()
    page.keyboard.press("Control+Enter")
    expect(page.locator(".flash")).to_contain_text("Reply sent.")
    with tenant_context(tenant):
        assert ticket.messages.filter(body_text="Half-written answer").exists()


def test_note_mode_looks_different_and_ctrl_enter_adds_the_note(
    page, log_in, tenant, agent, ticket, ticket_url
):
    log_in(agent)
    page.goto(ticket_url)
    composer = page.locator("#composer")
    send = composer.get_by_role("button", name="Send")
    reply_background = composer.evaluate("e => getComputedStyle(e).backgroundColor")
    page.get_by_label("Internal note").check()
    expect(composer).to_have_class(re.compile(r"\bis-note\b"))
    expect(composer.get_by_role("heading")).to_have_text("Internal note")
    expect(send).to_have_count(0)
    expect(composer.get_by_role("button", name="Add internal note")).to_be_visible()
    expect(composer.get_by_text("only agents see it")).to_be_visible()
    assert composer.evaluate("e => getComputedStyle(e).backgroundColor") != reply_background

    page.get_by_label("Message").fill("Known fault with this model.")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".flash")).to_contain_text("Note added.")
    with tenant_context(tenant):
        assert ticket.messages.get(body_text="Known fault with this model.").kind == "note"
        ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.NEW

    page.get_by_label("Public reply").check()
    expect(composer.get_by_role("button", name="Send")).to_be_visible()
    expect(composer).not_to_have_class(re.compile(r"\bis-note\b"))


def test_n_and_p_walk_the_queue_the_agent_came_from(page, log_in, live_server, tenant, agent):
    with tenant_context(tenant):
        first = TicketFactory(subject="First in line", priority=4)
        second = TicketFactory(subject="Second in line", priority=3)
        TicketFactory(subject="Mine, not unassigned", priority=3, assignee=agent)
    log_in(agent)
    page.goto(f"{live_server.url}/{tenant.slug}/queues/unassigned/")
    page.get_by_role("link", name="First in line").click()
    expect(page.get_by_role("heading", name="First in line")).to_be_visible()
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name="Second in line")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/tickets/{second.number}/\?from=unassigned$"))
    # Typing in the reply box is not a shortcut.
    page.get_by_label("Message").press("n")
    expect(page.get_by_label("Message")).to_have_value("n")
    page.get_by_label("Message").fill("")
    page.get_by_label("Message").blur()
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(rf"/tickets/{first.number}/\?from=unassigned$"))
    page.get_by_role("link", name="← Unassigned").click()
    expect(page.get_by_role("heading", name="Unassigned")).to_be_visible()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def test_a_refused_reply_keeps_its_file_and_shows_it_as_a_thumbnail_once_sent(
    page, log_in, tenant, agent, ticket, ticket_url, tmp_path
):
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(PNG)
    log_in(agent)
    page.goto(ticket_url)
    page.locator('#composer input[type="file"]').set_input_files(shot)
    page.get_by_role("button", name="Send").click()  # no text yet: refused

    # Said at the field (which names it) and in the summary at the top.
    expect(page.locator("#id_body_error")).to_have_text("Error: This field is required.")
    expect(
        page.get_by_role("alert").filter(has_text="Message: This field is required.")
    ).to_be_focused()
    kept = page.get_by_role("checkbox", name=re.compile("screenshot.png"))
    expect(kept).to_be_checked()
    page.get_by_label("Message").fill("Here is what I see.")
    page.get_by_role("button", name="Send").click()

    expect(page.locator(".flash")).to_contain_text("Reply sent.")
    thumbnail = page.locator(".timeline img.attachment-thumb")
    expect(thumbnail).to_have_count(1)
    thumbnail.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.attachment-thumb');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )


def test_the_ticket_page_at_desktop_and_phone_size(
    page, log_in, tenant, agent, dispatcher, ticket, ticket_url, tmp_path, settings
):
    """Screenshots for a person to look at (in HELPDESK_SCREENSHOTS, or the
    test's temporary folder), and the layout facts that must hold at both sizes."""
    shots = Path(os.environ.get("HELPDESK_SCREENSHOTS") or tmp_path)
    settings.TICKET_REFRESH_SECONDS = 1
    with tenant_context(tenant):
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.NOTE,
            body="הלקוח ביקש שנחזור אליו מחר בבוקר.",
            author_user=dispatcher,
        )
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.CUSTOMER,
            body="Screenshot attached.",
            author_contact=ticket.requester,
            attachments=[_upload("screen.png", _picture(320, 200))],
        )
    log_in(agent)
    page.goto(ticket_url + "?from=unassigned")
    page.get_by_label("Internal note").check()
    page.get_by_label("Message").fill("Draft note")
    page.screenshot(path=shots / "ticketpage-desktop.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.reload()
    page.get_by_label("Internal note").check()
    page.screenshot(path=shots / "ticketpage-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    hebrew = page.locator(".msg-body").filter(has_text="הלקוח")
    assert hebrew.evaluate("e => getComputedStyle(e).direction") == "rtl"


def _picture(width, height) -> bytes:
    """A PNG of a colour gradient (a thumbnail with something to see)."""
    import struct
    import zlib

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, "image/png")
