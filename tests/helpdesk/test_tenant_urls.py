"""Tenant pages are known by the include they sit in, not by the name of a
URL argument: the middleware guards everything inside `tenant_pages()`, and
the app refuses to start with a tenant-looking route outside it."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from helpdesk.checks import PUBLIC_TENANT_ENTRY_POINTS, tenant_urls_check, url_entries
from helpdesk.tenancy import current_tenant, public_tenant_view
from tests.factories import TenantFactory

URLCONFS = "tests.helpdesk.urlconfs"


def _error_ids():
    return [error.id for error in tenant_urls_check(None)]


def test_the_projects_urls_pass_the_check():
    assert tenant_urls_check(None) == []


def test_every_allowed_public_entry_point_exists():
    # A stale name on the allow-list would let a new route take it unreviewed.
    names = {entry.name for entry in url_entries()}
    assert names >= PUBLIC_TENANT_ENTRY_POINTS


@override_settings(ROOT_URLCONF=f"{URLCONFS}.tenant_route_outside")
def test_a_tenant_route_outside_the_tenant_pages_stops_start_up():
    errors = tenant_urls_check(None)
    assert [error.id for error in errors] == ["helpdesk.E001"]
    assert "<slug:tenant>/reports/" in errors[0].msg
    # `manage.py check` (and migrate, which both start paths run first) fails.
    with pytest.raises(SystemCheckError, match="helpdesk.E001"):
        call_command("check", verbosity=0)


@override_settings(ROOT_URLCONF=f"{URLCONFS}.tenant_named_deeper")
def test_a_route_naming_a_tenant_further_in_is_refused_too():
    assert _error_ids() == ["helpdesk.E001"]


@override_settings(ROOT_URLCONF=f"{URLCONFS}.undecorated_entry_point")
def test_an_allowed_entry_point_must_find_its_tenant_with_the_decorator():
    assert _error_ids() == ["helpdesk.E002"]


@override_settings(ROOT_URLCONF=f"{URLCONFS}.tenant_page_inside")
def test_a_page_inside_the_tenant_pages_is_guarded_whatever_its_arguments(
    tenant, agent, outsider, login, client
):
    assert _error_ids() == []
    url = reverse("reports", args=[tenant.slug, "anything"])
    assert url == f"/{tenant.slug}/reports/anything/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert login(outsider).get(url).status_code == 404
    response = login(agent).get(url)
    assert response.status_code == 200
    assert response.content.decode() == f"{tenant.name} {tenant.time_zone}"


def test_the_cast_walks_the_tenant_pages():
    names = {entry.name for entry in url_entries() if entry.tenant_page}
    assert {"tickets:list", "tickets:home", "tenant_settings", "notifications"} <= names
    public = {entry.name for entry in url_entries() if not entry.tenant_page}
    assert {"tickets:web_form", "tickets:inbound_webhook", "api:ticket", "login"} <= public


# public_tenant_view, the one way a public entry point finds its tenant


@public_tenant_view("shop")
def _who_am_i(request, shop):
    return f"{current_tenant().slug} {timezone.get_current_timezone_name()}"


def test_a_public_entry_point_runs_in_the_tenants_context_and_zone(db):
    tokyo = TenantFactory(slug="tokyo", time_zone="Asia/Tokyo")
    request = RequestFactory().get("/")
    assert _who_am_i(request, shop="tokyo") == "tokyo Asia/Tokyo"
    assert request.tenant == tokyo
    assert timezone.get_current_timezone_name() == "UTC"


def test_an_unknown_tenant_gets_404_or_the_callers_own_answer(db):
    from django.http import Http404

    with pytest.raises(Http404):
        _who_am_i(RequestFactory().get("/"), shop="nobody")

    @public_tenant_view("shop", unknown=lambda request, shop: f"no {shop}")
    def view(request, shop):
        raise AssertionError("not called for an unknown tenant")

    assert view(RequestFactory().get("/"), shop="nobody") == "no nobody"
