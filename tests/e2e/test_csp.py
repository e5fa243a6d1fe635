"""The Content-Security-Policy holds on every kind of page, and the pages
still work under it (the `page` fixture fails a test on any violation)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from helpdesk.tenancy import tenant_context
from tests.factories import TicketFactory
from tickets import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_pages_run_under_the_policy(page, live_server, log_in, tenant, admin_user):
    with tenant_context(tenant):
        ticket = TicketFactory(subject="Printer on fire")
        box, _ = services.mailbox_create(name="Support", address="help@acme.example")
    log_in(admin_user)
    for name, args in [
        ("tickets:queues", [tenant.slug]),
        ("tickets:board", [tenant.slug]),
        ("tickets:detail", [tenant.slug, ticket.number]),
        ("tickets:new", [tenant.slug]),
        ("tickets:mailbox_edit", [tenant.slug, box.pk]),
        ("tenant_settings", [tenant.slug]),
    ]:
        response = page.goto(live_server.url + reverse(name, args=args))
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
    # The confirmation that used to be an inline onclick still asks first.
    page.goto(live_server.url + reverse("tickets:mailbox_edit", args=[tenant.slug, box.pk]))
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Make a new token").click()
    assert asked == ["The current token stops working at once. Make a new one?"]
    expect(page.get_by_role("button", name="Make a new token")).to_be_visible()


def test_the_web_form_may_be_framed_by_other_sites(page, live_server, tenant):
    response = page.goto(f"{live_server.url}/help/{tenant.slug}/")
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    expect(page.get_by_role("button", name="Send request")).to_be_visible()


def test_an_inline_script_is_refused_by_the_browser(page, live_server, tenant, admin_user, log_in):
    """The policy is enforced, not only sent: a script slipped into a page
    does not run (the violation is what the fixture would fail on, so this
    test reads it itself)."""
    log_in(admin_user)
    page.goto(live_server.url + reverse("tickets:queues", args=[tenant.slug]))
    ran = page.evaluate(
        """() => new Promise((resolve) => {
            window.__ran = false;
            const script = document.createElement("script");
            script.textContent = "window.__ran = true";
            document.addEventListener("securitypolicyviolation", () => resolve(window.__ran));
            document.body.appendChild(script);
            setTimeout(() => resolve(window.__ran), 1000);
        })"""
    )
    assert ran is False
    assert any("script-src" in text for text in page.csp_violations)
    page.csp_violations.clear()  # expected here; any other test fails on one
