"""The top bar's widgets and the per-request hooks: extension points of the
core app that higher apps (dispatch's availability switch and last
activity) fill from their `ready()`."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_top_bar_widgets_load_after_the_page_and_follow_the_role(
    tenant, agent, admin_user, login, dummy_extensions
):
    queue = reverse("tickets:queue", args=[tenant.slug, "mine"])
    bell = reverse("notification_bell", args=[tenant.slug])
    page = login(agent).get(queue).text
    # A placeholder that works without JavaScript, filled by its own request.
    assert (
        f'<div class="topbar-widget" id="topbar-testextstatus" hx-get="{bell}" '
        'hx-trigger="load" hx-swap="innerHTML"><a href="'
        f'{reverse("notifications", args=[tenant.slug])}">Dummy status</a></div>'
    ) in page
    assert "Dummy for admins" not in page
    page = login(admin_user).get(queue).text
    assert page.index("Dummy status") < page.index("Dummy for admins")


def test_request_hooks_run_on_tenant_pages_only(tenant, agent, login, dummy_extensions):
    client = login(agent)
    client.get(reverse("tickets:queue", args=[tenant.slug, "mine"]))
    assert dummy_extensions.hook_calls == {tenant.slug: 1}
    client.get(reverse("account_sessions"))  # not a tenant's page
    assert dummy_extensions.hook_calls == {tenant.slug: 1}
