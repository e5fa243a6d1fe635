"""WCAG 2.1 A and AA on every page, checked by axe-core in Chromium.

The tenant pages are the view cast's (tests/test_view_cast.py): every GET
page there is opened here too, so a page added later is checked without
anyone adding it to this file. Beside them: the public pages, each page's
forms sent back empty (their error state), the live queue after a refresh
and the board after one."""

import re
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from django.urls import reverse
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import MembershipFactory, TicketFactory
from tests.test_query_budget import Desk, _no_hand_over
from tests.test_view_cast import VIEWS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
AXE = Axe()

# GET pages that answer with a file, not a page.
DOWNLOADS = {"tickets:attachment", "tickets:quarantine_download", "tenant_logo"}
TENANT_PAGES = [
    (name, args, role)
    for name, args, role, method in VIEWS
    if method == "GET" and name not in DOWNLOADS
]


def axe_violations(page) -> list[str]:
    """Every WCAG 2.1 A/AA violation on the page as it is now, one line per
    element: rule, impact, what is wrong and where."""
    page.wait_for_load_state("load")
    response = AXE.run(page, options=AXE_OPTIONS).response
    lines = []
    for violation in response["violations"]:
        for node in violation["nodes"]:
            lines.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} at "
                f"{' '.join(map(str, node['target']))}: {node.get('failureSummary', '')[:300]}"
            )
    return lines


def page_structure_problems(page) -> list[str]:
    """What axe-core no longer counts under WCAG but screen reader users
    meet at once: two elements with one id (a label then names the wrong
    field) and a page whose first heading is not its H1."""
    return page.evaluate(
        """() => {
            const problems = [];
            const seen = new Map();
            document.querySelectorAll('[id]').forEach((element) => {
                seen.set(element.id, (seen.get(element.id) || 0) + 1);
            });
            seen.forEach((count, id) => { if (count > 1) problems.push('duplicate id #' + id); });
            const first = document.querySelector('h1, h2, h3, h4, h5, h6');
            if (first && first.tagName !== 'H1') problems.push('first heading is ' + first.tagName + ': ' + first.textContent.trim());
            return problems;
        }"""
    )


def assert_accessible(page, what: str) -> None:
    problems = axe_violations(page) + page_structure_problems(page)
    assert not problems, f"{what} ({page.url}):\n" + "\n".join(problems)


def sign_in(page, live_server, user) -> None:
    """A signed-in browser without the login form's round trip: the session
    cookie of a test client that signed the user in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    host = urlparse(live_server.url).hostname
    page.context.add_cookies(
        [{"name": "sessionid", "value": cookie.value, "domain": host, "path": "/"}]
    )


@pytest.fixture
def desk(tenant):
    """A tenant with some of everything its pages list (the query budget's
    desk), a long unbroken subject, and the cast's ticket."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tickets import services
    from tickets.models import Message

    admin = MembershipFactory(tenant=tenant, role="admin").user
    agent = MembershipFactory(tenant=tenant, role="agent").user
    with _no_hand_over(), tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire", assignee=agent, tags=["printer"])
        services.message_add(
            ticket=ticket,
            kind=Message.Kind.REPLY,
            body="See attached",
            author_user=agent,
            attachments=[SimpleUploadedFile("steps.txt", b"turn it off", "text/plain")],
        )
    desk = Desk(tenant, admin, agent, ticket)
    desk.grow(2)
    with _no_hand_over(), tenant_context(tenant):
        TicketFactory(subject="Unbroken" + "x" * 120, assignee=agent)
    return desk


def _self_posting_forms(page) -> int:
    """How many POST forms on the page send back to a page that shows their
    errors: the page itself, a ticket's reply and its details."""
    return page.evaluate(
        """() => Array.from(document.forms).filter((form) => {
            if ((form.getAttribute('method') || '').toLowerCase() !== 'post') return false;
            if (form.querySelector('[data-confirm]')) return false;
            const action = new URL(form.action, location.href).pathname;
            return action === location.pathname || /\\/(reply|update)\\/$/.test(action);
        }).length"""
    )


def _send_form_empty(page, index: int) -> None:
    """Empty the index-th self-posting form's text fields and send it, as a
    person who pressed the button too early would."""
    with page.expect_navigation():
        page.evaluate(
            """(index) => {
                const forms = Array.from(document.forms).filter((form) => {
                    if ((form.getAttribute('method') || '').toLowerCase() !== 'post') return false;
                    if (form.querySelector('[data-confirm]')) return false;
                    const action = new URL(form.action, location.href).pathname;
                    return action === location.pathname || /\\/(reply|update)\\/$/.test(action);
                });
                const form = forms[index];
                form.querySelectorAll('input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file]):not([type=submit]), textarea')
                    .forEach((field) => { field.value = ''; });
                form.noValidate = true;
                form.requestSubmit();
            }""",
            index,
        )


@pytest.mark.parametrize(
    ("name", "args", "role"), TENANT_PAGES, ids=[name for name, *_ in TENANT_PAGES]
)
def test_every_tenant_page_and_its_forms_error_state_pass_axe(
    name, args, role, page, live_server, desk
):
    user = desk.agent if role == "agent" else desk.admin
    sign_in(page, live_server, user)
    url = live_server.url + reverse(name, args=args(desk.tenant, desk.ticket))
    response = page.goto(url)
    if "<html" not in response.text()[:300].lower():
        pytest.skip("an htmx fragment, checked inside its page")
    # What folds away (filters, menus) is checked unfolded.
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    assert_accessible(page, name)
    for index in range(_self_posting_forms(page)):
        page.goto(url)
        _send_form_empty(page, index)
        assert_accessible(page, f"{name}, form {index + 1} sent empty")


def test_queue_and_board_after_a_live_refresh_pass_axe(page, live_server, desk, settings):
    settings.QUEUE_REFRESH_SECONDS = 1
    settings.BOARD_REFRESH_SECONDS = 1
    sign_in(page, live_server, desk.admin)
    slug = desk.tenant.slug
    for path in (f"/{slug}/queues/all/", f"/{slug}/board/"):
        page.goto(live_server.url + path)
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            pass
        page.wait_for_timeout(300)  # swapped and settled
        assert_accessible(page, f"{path} after a refresh")
    # A card's Move to… menu, open.
    page.locator(".card-move-menu summary").first.click()
    assert_accessible(page, "board with a Move to… menu open")


def test_search_with_results_and_the_shortcuts_list_pass_axe(page, live_server, desk):
    sign_in(page, live_server, desk.agent)
    page.goto(f"{live_server.url}/{desk.tenant.slug}/search/?q=printer")
    expect(page.locator(".search-results mark").first).to_be_visible()
    assert_accessible(page, "search")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    assert_accessible(page, "the list of keyboard shortcuts")


def test_public_pages_and_sign_in_pass_axe(page, live_server, tenant, settings):
    settings.WEB_FORM_MIN_FILL_SECONDS = 0
    cache.clear()
    response = page.goto(f"{live_server.url}/help/nobody-here/")
    assert response.status == 404
    assert_accessible(page, "not found")
    page.goto(f"{live_server.url}/accounts/login/")
    assert_accessible(page, "sign-in")
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_load_state()
    assert_accessible(page, "sign-in with an error")

    page.goto(live_server.url + reverse("tickets:web_form", args=[tenant.slug]))
    assert_accessible(page, "web form")
    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_title(re.compile("^Error: "))
    assert_accessible(page, "web form with errors")

    page.goto(live_server.url + reverse("tickets:web_form", args=[tenant.slug]))
    page.get_by_label("Your name").fill("Pat Lee")
    page.get_by_label("Your email").fill("pat@example.com")
    page.get_by_label("Subject").fill("Printer on fire")
    page.get_by_label("Description").fill("Smoke from tray 2.")
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/sent/" in page.url
    assert_accessible(page, "web form sent")
