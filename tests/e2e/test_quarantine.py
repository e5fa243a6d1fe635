"""Hostile mail in quarantine, opened by an admin in a real browser: it
shows as text, no dialog opens, none of its scripts or handlers run, and
the raw mail downloads as a file instead of opening as a page."""

import pytest
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tickets import intake, services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every way out of the text it is shown in, each leaving a trace if it runs.
PAYLOAD = (
    "<script>window.__ran='script';alert('script')</script>"
    "</textarea></pre><img src=x onerror=\"window.__ran='img';alert('img')\">"
    "<svg onload=\"window.__ran='svg';alert('svg')\"></svg>"
)


@pytest.fixture
def hostile(tenant):
    raw = (
        f"From: {PAYLOAD}\r\nTo: {PAYLOAD}\r\nSubject: {PAYLOAD}\r\n"
        f"Content-Type: text/html\r\n\r\n<html><body>{PAYLOAD}</body></html>\r\n"
    ).encode()
    with tenant_context(tenant):
        mailbox, _ = services.mailbox_create(name="Support", address="help@acme.example")
        inbound, _ = intake.inbound_store(mailbox=mailbox, raw=raw)
        inbound = intake.inbound_process(inbound=inbound)
    assert inbound.status == "quarantined"  # no usable sender
    return inbound


def test_hostile_mail_is_inert_text_and_downloads_as_a_file(
    page, log_in, live_server, tenant, admin_user, hostile
):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(admin_user)

    page.goto(f"{live_server.url}/{tenant.slug}/settings/quarantine/")
    row = page.get_by_role("row").filter(has_text="no usable sender")
    expect(row).to_contain_text("<script>window.__ran='script'")
    row.get_by_role("link").first.click()

    expect(page.locator("pre.raw-mail")).to_contain_text("<svg onload=")
    expect(page.locator("h1.mail-subject")).to_contain_text("</textarea></pre><img src=x")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.__ran") is None
    assert page.locator("main img, main svg, main script, main textarea").count() == 0
    assert dialogs == []

    detail_url = page.url
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .eml").click()
    assert download.value.suggested_filename == f"acme-mail-{hostile.pk}.eml"
    assert page.url == detail_url  # a file, not a page that replaced this one
    assert page.evaluate("() => window.__ran") is None and dialogs == []
