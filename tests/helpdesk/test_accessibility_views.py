"""The per-member shortcut setting, and page titles that say what is on the page."""

import re

from django.urls import reverse

from helpdesk.models import Membership


def test_a_member_turns_single_key_shortcuts_off_and_on_again(tenant, agent, login):
    client = login(agent)
    url = reverse("keyboard_shortcuts", args=[tenant.slug])
    queue = reverse("tickets:queue", args=[tenant.slug, "mine"])
    assert b'data-shortcuts="off"' not in client.get(queue).content

    response = client.post(url, {"enabled": "0", "next": f"{queue}?priority=4"})
    assert response.status_code == 302 and response["Location"] == f"{queue}?priority=4"
    assert not Membership.objects.get(user=agent, tenant=tenant).keyboard_shortcuts
    page = client.get(queue).content.decode()
    assert 'data-shortcuts="off"' in page
    assert "Turn single-key shortcuts on" in page

    client.post(url, {"enabled": "1", "next": queue})
    assert Membership.objects.get(user=agent, tenant=tenant).keyboard_shortcuts


def test_the_setting_is_the_members_own_in_each_tenant(tenant, other_tenant, agent, login):
    from tests.factories import MembershipFactory

    elsewhere = MembershipFactory(tenant=other_tenant, user=agent, role="agent")
    login(agent).post(reverse("keyboard_shortcuts", args=[tenant.slug]), {"enabled": "0"})
    elsewhere.refresh_from_db()
    assert elsewhere.keyboard_shortcuts


def test_going_back_never_leaves_the_site(tenant, agent, login):
    client = login(agent)
    url = reverse("keyboard_shortcuts", args=[tenant.slug])
    for next_url in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", ""):
        response = client.post(url, {"enabled": "0", "next": next_url})
        assert response["Location"] == reverse("tickets:queues", args=[tenant.slug])


def _title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1).strip()


def test_the_search_pages_title_has_the_query(tenant, agent, login):
    page = login(agent).get(reverse("tickets:search", args=[tenant.slug]), {"q": "printer"})
    assert _title(page) == "Search: printer · Acme Support"


def test_a_form_sent_back_with_errors_says_so_in_the_title(tenant, agent, login):
    response = login(agent).post(reverse("tickets:new", args=[tenant.slug]), {"subject": ""})
    page = response.content.decode()
    assert _title(response) == "Error: New ticket · Acme Support"
    assert 'id="id_subject_error"' in page
    assert 'aria-describedby="id_subject_error"' in page
