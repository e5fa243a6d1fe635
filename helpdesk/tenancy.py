"""The current tenant: set once per request (middleware or a public entry
point) or task (TenantTask), held in one context variable, and mirrored into
the database transaction so that row-level security sees the same tenant as
the ORM. Also which URLs are a tenant's pages (`tenant_pages`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from celery import Task
from django.db import connection, transaction
from django.http import Http404
from django.urls import ResolverMatch, URLResolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from django_scopes import scope

from .models import Tenant

logger = logging.getLogger(__name__)

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)
# Facts worked out once per tenant_context block (see `tenant_memo`).
_context_memo: ContextVar[dict | None] = ContextVar("tenant_context_memo", default=None)


class NoTenantActive(RuntimeError):
    pass


def current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise NoTenantActive("No tenant is active: wrap the work in tenant_context(tenant).")
    return tenant


def tenant_memo() -> dict:
    """A dict that lives as long as the innermost `tenant_context` block (one
    tenant, one transaction): for a fact a hot path would otherwise read
    again for every row it writes (whether the tenant has webhooks, asked
    for each event recorded). Whoever changes the fact in the block drops
    its key."""
    memo = _context_memo.get()
    if memo is None:
        raise NoTenantActive("No tenant is active: wrap the work in tenant_context(tenant).")
    return memo


def _set_database_tenant(value: str) -> str:
    """Set app.tenant_id for the current transaction only; return the old value."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting('app.tenant_id', true), ''),"
            " set_config('app.tenant_id', %s, true)",
            [value],
        )
        return cursor.fetchone()[0]


@contextmanager
def tenant_context(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block as `tenant`: ORM scope, context variable, RLS setting
    and the tenant's time zone (so "today" and "9:00" mean the tenant's, in a
    request or a task alike).

    The block runs in one transaction, because the RLS setting is
    transaction-local (safe with persistent and pooled connections).
    """
    token = _current_tenant.set(tenant)
    memo_token = _context_memo.set({})
    try:
        # override() puts back whatever zone was active, so contexts nest.
        with timezone.override(tenant.time_zone), scope(tenant=tenant.pk):
            with transaction.atomic():
                previous = _set_database_tenant(str(tenant.pk))
                yield tenant
            # A nested context ends inside an outer transaction: hand the
            # outer block its own tenant back.
            if connection.in_atomic_block and not connection.needs_rollback:
                _set_database_tenant(previous)
    finally:
        _context_memo.reset(memo_token)
        _current_tenant.reset(token)


def render_now(response):
    """Render a lazily rendered response (TemplateResponse, DRF's Response)
    now, while the tenant is active, not after its context has closed."""
    if hasattr(response, "render") and callable(response.render):
        response.render()
    return response


# ---------------------------------------------------------------------------
# Tenant pages: /<tenant>/... behind login and membership

# The URL argument every tenant page receives; set by tenant_pages() only.
TENANT_URL_KWARG = "tenant_slug"
TENANT_ROUTE = f"<slug:{TENANT_URL_KWARG}>/"


class TenantPages(URLResolver):
    """The include that holds a tenant's pages. TenantMiddleware guards every
    URL resolved through one (login, membership, tenant context), whatever
    its own arguments are called; helpdesk.checks refuses to start when a
    tenant-looking route sits outside one."""


def tenant_pages(urlpatterns: list) -> TenantPages:
    """`path("<slug:tenant_slug>/", include(urlpatterns))`, marked as tenant pages.

    Each app's urls.py wraps its tenant pages in this, inside its own
    namespace, so names stay `tickets:detail` (a namespace is one subtree in
    Django: tickets' public routes and its tenant pages must share it).
    """
    return TenantPages(RoutePattern(TENANT_ROUTE, is_endpoint=False), urlpatterns)


def is_tenant_page(match: ResolverMatch) -> bool:
    """Whether the URL was resolved through a TenantPages include."""
    # On a successful match the last entry of `tried` is the chain of
    # patterns, outermost first, that resolved it.
    return bool(match.tried) and any(isinstance(p, TenantPages) for p in match.tried[-1])


# ---------------------------------------------------------------------------
# Public entry points: a tenant named in the URL, no login


def public_tenant_view(kwarg: str, *, unknown: Callable | None = None):
    """Decorate a view that anyone may call (web form, inbound webhook, API)
    whose URL names its tenant in `kwarg`: the tenant is looked up, set as
    `request.tenant`, and the view (and its rendering) runs inside
    tenant_context(tenant).

    An unknown tenant gets 404, or `unknown(request, *args, **kwargs)` when
    the caller answers differently (the API runs its view without a tenant
    so that authentication answers 401, as for a wrong key).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            # Tenant has no row-level security: it is looked up before any context.
            tenant = Tenant.objects.filter(slug=kwargs[kwarg]).first()
            if tenant is None:
                if unknown is None:
                    raise Http404("No such help desk.")
                return unknown(request, *args, **kwargs)
            request.tenant = tenant
            with tenant_context(tenant):
                return render_now(view(request, *args, **kwargs))

        # Read by helpdesk.checks: an allowed public entry point must use this.
        wrapper.public_tenant_kwarg = kwarg
        return wrapper

    return decorator


# ---------------------------------------------------------------------------
# Tasks


class TenantTask(Task):
    """The base of every Celery task that touches tenant data.

        @shared_task(base=TenantTask, bind=True)
        def ticket_remind(self, *, tenant_id: int, ticket_id: int): ...

    Called with `tenant_id=` (a keyword), the body runs inside that tenant's
    tenant_context: scope, row-level security, time zone, and one
    transaction, rolled back if the body raises (a `self.retry()` too).
    `current_tenant()` gives the tenant. A tenant deleted since the task was
    queued is logged and the task ends, with no retry.

    A task that must commit in steps (each mail marked sent before the next
    goes; IMAP mail committed before it is marked seen; a failure recorded
    before `self.retry()`) passes `atomic=False`: the tenant is then known
    (`current_tenant()`) and its time zone active, but the body opens
    `with tenant_context(current_tenant()):` around each step itself; a
    query outside those blocks raises ScopeError, as anywhere.
    """

    atomic = True

    def __call__(self, *args, **kwargs):
        if "tenant_id" not in kwargs:
            raise TypeError(f"{self.name} must be called with tenant_id=")
        tenant = Tenant.objects.filter(pk=kwargs["tenant_id"]).first()
        if tenant is None:
            # Deleted after the task was queued: retrying cannot bring it back.
            logger.warning(
                "task %s: tenant %s no longer exists; nothing done", self.name, kwargs["tenant_id"]
            )
            return None
        if self.atomic:
            with tenant_context(tenant):
                return super().__call__(*args, **kwargs)
        token = _current_tenant.set(tenant)
        try:
            with timezone.override(tenant.time_zone):
                return super().__call__(*args, **kwargs)
        finally:
            _current_tenant.reset(token)
