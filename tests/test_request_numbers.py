"""Numbers typed or pasted into the new pages' cursors, filters and forms:
whatever the text (another script's digits, a superscript, a sign, an
exponent, a number past any column), the page answers with its first page
or a message, never an error, and nothing is saved from a refused form."""

import pytest
from django.urls import reverse

from helpdesk.tenancy import tenant_context
from sla.models import Calendar, Policy
from tests.factories import ContactFactory, TicketFactory
from tickets.portal.views import SESSION_KEY

# Each is text `str.isdigit()` or `float()` would take, or a number no
# column holds.
HOSTILE_NUMBERS = [
    "²",  # a digit to isdigit(), not to int()
    "٣",  # an Arabic-Indic three
    "-1",
    "1e309",
    "NaN",
    "99999999999999999999",
    "9" * 400,
    "1.5",
    " 7",
    "abc",
]

CURSORS = [
    ("portal:my_tickets", "before"),
    ("portal:my_tickets", "after"),
    ("reports:tickets", "before"),
    ("tickets:queue", "sla"),
    ("reports:dashboard", "organization"),
    ("reports:dashboard", "group"),
    ("reports:dashboard", "assignee"),
]


@pytest.fixture
def signed_in_customer(client, tenant):
    with tenant_context(tenant):
        pat = ContactFactory(email="pat@example.com")
        subjects = [TicketFactory(requester=pat, subject=f"Request {i}").subject for i in range(3)]
    session = client.session
    session[SESSION_KEY.format(tenant_id=tenant.pk)] = pat.pk
    session.save()
    return subjects


@pytest.mark.parametrize("value", HOSTILE_NUMBERS)
@pytest.mark.parametrize(("url_name", "param"), CURSORS)
def test_a_cursor_or_filter_that_is_no_plain_number_shows_a_page(
    client, tenant, admin_user, signed_in_customer, url_name, param, value
):
    if url_name.startswith("portal:"):
        url = reverse(url_name, args=[tenant.slug])
    else:
        client.force_login(admin_user)
        args = {"reports:tickets": [tenant.slug, "backlog"], "tickets:queue": [tenant.slug, "all"]}
        url = reverse(url_name, args=args.get(url_name, [tenant.slug]))
    response = client.get(url, {param: value})
    assert response.status_code == 200
    if url_name == "portal:my_tickets":
        # Not a cursor at all: the newest page, every request on it.
        for subject in signed_in_customer:
            assert subject in response.content.decode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("²", "write a duration as"),
        ("²h", "write a duration as"),
        ("٣h", "write a duration as"),
        ("9" * 400 + "h", "write a duration as"),
        ("9" * 400, "write a duration as"),
        ("1e309h", "write a duration as"),
        ("NaNh", "write a duration as"),
        ("-1h", "write a duration as"),
        ("99999999", "at most 365 days"),
        ("9999999d", "at most 365 days"),
        ("366d", "at most 365 days"),
    ],
)
def test_a_policy_target_that_is_no_plain_duration_is_refused_with_the_reason(
    tenant, admin_user, login, value, reason
):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
    client = login(admin_user)
    data = {
        "name": "Standard",
        "position": "10",
        "active": "on",
        "calendar": str(calendar.pk),
        "pause_statuses": ["pending", "on_hold"],
        "at_risk_percent": "80",
        **{f"target_{p}_first_response": "4h" for p in range(1, 5)},
        "target_1_resolution": value,
    }
    response = client.post(reverse("sla:policy_new", args=[tenant.slug]), data)
    assert response.status_code == 200
    assert reason in response.content.decode()
    with tenant_context(tenant):
        assert not Policy.objects.exists()


def test_a_year_long_target_is_still_taken(tenant, admin_user, login):
    with tenant_context(tenant):
        calendar = Calendar.objects.create(tenant=tenant, name="24/7", always_open=True)
    client = login(admin_user)
    data = {
        "name": "Slow",
        "position": "10",
        "active": "on",
        "calendar": str(calendar.pk),
        "at_risk_percent": "80",
        "target_1_resolution": "365d",
    }
    response = client.post(reverse("sla:policy_new", args=[tenant.slug]), data)
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Policy.objects.get().targets.get().seconds == 365 * 86400
