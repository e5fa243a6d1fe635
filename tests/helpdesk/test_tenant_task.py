"""TenantTask: the one base of every task that touches tenant data."""

import logging

import pytest
from celery import shared_task
from django.db import connection
from django.utils import timezone
from django_scopes import ScopeError

from helpdesk.tenancy import NoTenantActive, TenantTask, current_tenant, tenant_context
from tests.factories import ContactFactory, TenantFactory
from tickets.models import Contact


@shared_task(base=TenantTask, bind=True)
def contacts_seen(self, *, tenant_id: int) -> dict:
    """What the body sees: its tenant, zone, and the contacts the ORM and raw SQL find."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_contact")
        raw = cursor.fetchone()[0]
    return {
        "tenant": current_tenant().slug,
        "zone": timezone.get_current_timezone_name(),
        "orm": list(Contact.objects.values_list("email", flat=True)),
        "raw": raw,
    }


@shared_task(base=TenantTask, bind=True)
def contact_add_then_fail(self, *, tenant_id: int, email: str) -> None:
    Contact.objects.create(tenant=current_tenant(), email=email)
    raise RuntimeError("the mail server went away")


@shared_task(base=TenantTask, bind=True, atomic=False)
def contact_add_in_steps(self, *, tenant_id: int, emails: list[str]) -> None:
    for email in emails:
        # Each step commits on its own: a later failure does not undo it.
        with tenant_context(current_tenant()):
            Contact.objects.create(tenant=current_tenant(), email=email)
    raise RuntimeError("the mail server went away")


@shared_task(base=TenantTask, bind=True, atomic=False)
def contacts_outside_a_step(self, *, tenant_id: int) -> int:
    return Contact.objects.count()


@pytest.fixture
def tokyo(db):
    return TenantFactory(slug="tokyo", time_zone="Asia/Tokyo")


def test_the_body_runs_in_its_tenants_context_and_zone(tokyo, other_tenant):
    with tenant_context(tokyo):
        ContactFactory(email="kenji@example.jp")
    with tenant_context(other_tenant):
        ContactFactory(email="someone@globex.example")
    # As a worker runs it (Celery's tracer), not only as a plain call.
    seen = contacts_seen.apply(kwargs={"tenant_id": tokyo.pk}).get()
    assert seen == {"tenant": "tokyo", "zone": "Asia/Tokyo", "orm": ["kenji@example.jp"], "raw": 1}
    # Nothing of it is left active afterwards.
    assert timezone.get_current_timezone_name() == "UTC"
    with pytest.raises(NoTenantActive):
        current_tenant()


def test_a_deleted_tenant_ends_the_task_without_a_retry(tokyo, caplog):
    gone = tokyo.pk
    tokyo.delete()
    with caplog.at_level(logging.WARNING, logger="helpdesk.tenancy"):
        result = contacts_seen.apply(kwargs={"tenant_id": gone})
    assert result.successful() and result.result is None
    assert f"tenant {gone} no longer exists" in caplog.text


def test_a_task_called_without_tenant_id_is_a_programming_error(db):
    with pytest.raises(TypeError, match="tenant_id="):
        contacts_seen()


def test_what_a_failing_task_wrote_is_rolled_back(tokyo):
    with pytest.raises(RuntimeError):
        contact_add_then_fail(tenant_id=tokyo.pk, email="half@example.jp")
    with tenant_context(tokyo):
        assert not Contact.objects.filter(email="half@example.jp").exists()


def test_a_task_in_steps_keeps_the_steps_it_finished(tokyo):
    with pytest.raises(RuntimeError):
        contact_add_in_steps(tenant_id=tokyo.pk, emails=["a@example.jp", "b@example.jp"])
    with tenant_context(tokyo):
        assert set(Contact.objects.values_list("email", flat=True)) == {
            "a@example.jp",
            "b@example.jp",
        }


def test_a_task_in_steps_cannot_query_outside_a_step(tokyo):
    with pytest.raises(ScopeError):
        contacts_outside_a_step(tenant_id=tokyo.pk)
