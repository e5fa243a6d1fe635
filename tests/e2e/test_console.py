"""The settings console in a real browser: an admin invites an agent, who
joins from the mail the app sent; an admin makes a group and a category
and finds them in the new-ticket form."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import expect

from helpdesk.celery import app as celery_app
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("HELPDESK_SHOTS", "/tmp/shots/console"))  # noqa: S108 - for people to look at


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def _shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SHOTS / f"{name}-phone.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})


def test_an_invited_agent_joins_from_the_mail_and_sees_their_queue(
    page, log_in, live_server, tenant, admin_user, eager
):
    mail.outbox = []
    log_in(admin_user)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_text("No support address yet")).to_be_visible()
    _shoot(page, "settings-home")

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="People").click()
    page.locator("#id_email").fill("robin@example.com")
    page.locator("#id_role").select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to robin@example.com")
    expect(page.get_by_role("row").filter(has_text="robin@example.com")).to_be_visible()
    _shoot(page, "people")

    assert len(mail.outbox) == 1
    link = re.search(r"(http://\S+/accounts/invitation/\S+/)", mail.outbox[0].body).group(1)
    page.get_by_role("button", name="Log out").click()

    page.goto(link)
    expect(page.get_by_role("heading", name="Join Acme Support")).to_be_visible()
    page.locator("#id_first_name").fill("Robin")
    page.locator("#id_last_name").fill("Hood")
    page.locator("#id_username").fill("robin")
    page.locator("#id_password1").fill(PASSWORD + "-x")
    page.locator("#id_password2").fill(PASSWORD + "-x")
    page.get_by_role("button", name="Join Acme Support").click()
    expect(page).to_have_url(f"{live_server.url}/acme/queues/mine/")
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.get_by_text("Robin Hood · Agent")).to_be_visible()

    # Signed out, the new agent signs in with what they chose.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("robin")
    page.get_by_label("Password").fill(PASSWORD + "-x")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()


def test_a_new_group_and_category_appear_in_the_new_ticket_form(page, log_in, tenant, admin_user):
    log_in(admin_user)
    page.get_by_role("link", name="Settings").click()
    nav = page.get_by_role("navigation", name="Settings")
    nav.get_by_role("link", name="Groups").click()
    page.locator("#id_name").fill("Field service")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Field service")).to_be_visible()

    nav.get_by_role("link", name="Categories").click()
    page.locator("#id_name").fill("Printers")
    page.get_by_role("button", name="Create category").click()
    expect(page.get_by_role("status")).to_contain_text("Category “Printers” created")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="New ticket").click()
    expect(page.locator("#id_group option", has_text="Field service")).to_have_count(1)
    expect(page.locator("#id_category option", has_text="Printers")).to_have_count(1)


def test_time_zone_list_filters_as_you_type(page, log_in, tenant, admin_user):
    log_in(admin_user)
    page.goto(page.url.split("/acme/")[0] + "/acme/settings/general/")
    page.get_by_label("Find a zone by city or region").fill("kolkata")
    expect(page.locator("#id_time_zone")).to_have_value("Asia/Kolkata")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    expect(page.locator("#id_time_zone")).to_have_value("Asia/Kolkata")
