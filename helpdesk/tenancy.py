"""The current tenant: set once per request (middleware) or task (TenantTask),
held in one context variable, and mirrored into the database transaction so
that row-level security sees the same tenant as the ORM."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from celery import Task
from django.db import connection, transaction
from django_scopes import scope

from .models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("current_tenant", default=None)


class NoTenantActive(RuntimeError):
    pass


def current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise NoTenantActive("No tenant is active: wrap the work in tenant_context(tenant).")
    return tenant


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
    """Run the block as `tenant`: ORM scope, context variable and RLS setting.

    The block runs in one transaction, because the RLS setting is
    transaction-local (safe with persistent and pooled connections).
    """
    token = _current_tenant.set(tenant)
    try:
        with scope(tenant=tenant.pk):
            with transaction.atomic():
                previous = _set_database_tenant(str(tenant.pk))
                yield tenant
            # A nested context ends inside an outer transaction: hand the
            # outer block its own tenant back.
            if connection.in_atomic_block and not connection.needs_rollback:
                _set_database_tenant(previous)
    finally:
        _current_tenant.reset(token)


class TenantTask(Task):
    """A Celery task that runs inside the tenant named by its tenant_id argument."""

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} must be called with tenant_id=")
        tenant = Tenant.objects.get(pk=tenant_id)
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)
