"""System checks of the core app.

The tenant URL check runs with every `manage.py check`, `migrate` (both
start paths run it first) and `runserver`: a route that looks like a tenant
page but sits outside `tenant_pages()` would get no login, no membership
check and no tenant context, so the app refuses to start with one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core import checks
from django.urls import URLResolver, get_resolver

from .tenancy import TenantPages

# Routes outside the tenant pages that name a tenant on purpose: anyone may
# call them (no login), and each finds its tenant with
# helpdesk.tenancy.public_tenant_view. A new one is added here, on review.
PUBLIC_TENANT_ENTRY_POINTS = {
    "tickets:web_form",  # /help/<tenant>/
    "tickets:web_form_sent",  # /help/<tenant>/sent/<token>/
    "tickets:inbound_webhook",  # /inbound/<tenant>/<mailbox>/
    "api:tickets",  # /api/v1/<tenant>/...
    "api:ticket",
    "api:messages",
    # The customer portal (tickets/portal): /portal/<tenant>/...
    "portal:home",
    "portal:signin",
    "portal:signout",
    "portal:logo",
    "portal:my_tickets",
    "portal:new_ticket",
    "portal:ticket",
    "portal:my_ticket",
    "portal:link:reply",
    "portal:link:solve",
    "portal:link:rate",
    "portal:link:file",
    "portal:mine:reply",
    "portal:mine:solve",
    "portal:mine:rate",
    "portal:mine:file",
}

# `<slug:name>` / `<name>` in a route, `(?P<name>` in a regex.
_CAPTURE = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")
# A route that starts with a capture: a route's `<`, a regex's named or plain group.
_LEADING_CAPTURE = re.compile(r"\^*(?:<|\(\?P<|\((?!\?))")


@dataclass(frozen=True)
class UrlEntry:
    route: str  # the whole route, each level's pattern as written
    name: str | None  # with its namespaces, as reverse() takes it
    view: Callable
    tenant_page: bool  # resolved through a TenantPages include


def url_entries(patterns=None, route="", namespace="", tenant_page=False) -> Iterator[UrlEntry]:
    """Every URL pattern of the project (ROOT_URLCONF), with its whole route."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_entries(
                pattern.url_patterns,
                route + str(pattern.pattern),
                inner,
                tenant_page or isinstance(pattern, TenantPages),
            )
        else:
            name = namespace + pattern.name if pattern.name else None
            yield UrlEntry(route + str(pattern.pattern), name, pattern.callback, tenant_page)


def _looks_like_a_tenant_page(route: str) -> bool:
    """A capture as the first segment (`<slug:x>/...`, the shape of /<tenant>/),
    or a capture anywhere whose name says it is a tenant."""
    if _LEADING_CAPTURE.match(route):
        return True
    return any("tenant" in (a or b).lower() for a, b in _CAPTURE.findall(route))


def tenant_urls_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Every tenant-looking route is a tenant page or an allowed public entry point."""
    errors = []
    for entry in url_entries():
        if entry.tenant_page or not _looks_like_a_tenant_page(entry.route):
            continue
        label = f"{entry.route!r}" + (f" ({entry.name})" if entry.name else "")
        if entry.name not in PUBLIC_TENANT_ENTRY_POINTS:
            errors.append(
                checks.Error(
                    f"The URL {label} looks like a tenant page but is outside tenant_pages(): "
                    "it would get no login, no membership check and no tenant context.",
                    hint="Add it to its app's tenant_urlpatterns (helpdesk.tenancy."
                    "tenant_pages). A public entry point is named, decorated with "
                    "helpdesk.tenancy.public_tenant_view and listed in "
                    "PUBLIC_TENANT_ENTRY_POINTS (helpdesk/checks.py).",
                    obj=entry.route,
                    id="helpdesk.E001",
                )
            )
        elif getattr(entry.view, "public_tenant_kwarg", None) is None:
            errors.append(
                checks.Error(
                    f"The public entry point {label} does not find its tenant with "
                    "public_tenant_view, so it may run outside the tenant's context.",
                    hint="Decorate the view with helpdesk.tenancy.public_tenant_view "
                    "(a DRF view: derive it from helpdesk.api.views.TenantApiView).",
                    obj=entry.route,
                    id="helpdesk.E002",
                )
            )
    return errors
