from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_scopes import ScopeError

from helpdesk import db as tenant_db
from helpdesk.tenancy import NoTenantActive, current_tenant, tenant_context
from tests.factories import ContactFactory, TenantFactory, TicketFactory
from tickets.models import Ticket


def _raw_ticket_numbers(tenant_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT number FROM tickets_ticket WHERE tenant_id = %s", [tenant_id])
        return [row[0] for row in cursor.fetchall()]


def test_orm_query_without_an_active_tenant_raises(db):
    with pytest.raises(ScopeError):
        list(Ticket.objects.all())
    with pytest.raises(NoTenantActive):
        current_tenant()


def test_orm_query_sees_only_the_active_tenant(tenant, other_tenant):
    with tenant_context(tenant):
        mine = TicketFactory()
    with tenant_context(other_tenant):
        TicketFactory()
        assert list(Ticket.objects.values_list("pk", flat=True)) != [mine.pk]
    with tenant_context(tenant):
        assert list(Ticket.objects.values_list("pk", flat=True)) == [mine.pk]


def test_raw_sql_for_another_tenant_returns_nothing(tenant, other_tenant):
    with tenant_context(other_tenant):
        theirs = TicketFactory()
    with tenant_context(tenant):
        TicketFactory()
        # A forgotten filter, or a filter on the wrong tenant: the database
        # still answers only for the tenant that is set.
        assert _raw_ticket_numbers(other_tenant.pk) == []
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tickets_ticket")
            assert cursor.fetchone()[0] == 1
    with tenant_context(other_tenant):
        assert _raw_ticket_numbers(other_tenant.pk) == [theirs.number]


def test_raw_sql_with_no_tenant_set_returns_no_rows(tenant):
    with tenant_context(tenant):
        TicketFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_ticket")
        assert cursor.fetchone()[0] == 0


def test_nested_context_gives_the_outer_tenant_back(tenant, other_tenant):
    with tenant_context(tenant):
        TicketFactory()
        with tenant_context(other_tenant):
            assert _raw_ticket_numbers(tenant.pk) == []
        assert len(_raw_ticket_numbers(tenant.pk)) == 1


def test_writing_a_row_for_another_tenant_is_refused(tenant, other_tenant):
    with tenant_context(tenant):
        ticket = TicketFactory()
        with pytest.raises(Exception, match="row-level security"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE tickets_ticket SET tenant_id = %s WHERE id = %s",
                    [other_tenant.pk, ticket.pk],
                )


def test_a_ticket_cannot_point_at_another_tenants_contact(tenant, other_tenant):
    # Foreign-key checks skip RLS; the (tenant_id, id) keys close that gap.
    with tenant_context(other_tenant):
        stranger = ContactFactory()
    with tenant_context(tenant):
        ticket = TicketFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE tickets_ticket SET requester_id = %s WHERE id = %s",
                    [stranger.pk, ticket.pk],
                )
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_every_tenant_owned_table_forces_row_level_security(db):
    tables = [model._meta.db_table for model in tenant_db.tenant_owned_models()]
    assert "tickets_ticket" in tables and "tickets_message" in tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE c.relrowsecurity AND c.relforcerowsecurity AND p.polname = 'tenant_isolation'"
        )
        walled = {row[0] for row in cursor.fetchall()}
    assert set(tables) <= walled


def test_the_app_role_does_not_bypass_row_level_security(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def test_a_tenant_cannot_take_a_slug_the_app_uses(db):
    from django.core.exceptions import ValidationError

    from helpdesk.models import Tenant

    for slug in ("api", "help", "inbound"):
        with pytest.raises(ValidationError, match="used by the app itself"):
            Tenant(slug=slug, name="X", ticket_prefix="XX").full_clean()


def test_tenant_context_activates_the_tenants_time_zone(db):
    tokyo = TenantFactory(slug="tokyo", time_zone="Asia/Tokyo")
    berlin = TenantFactory(slug="berlin", time_zone="Europe/Berlin")
    assert timezone.get_current_timezone_name() == "UTC"
    with tenant_context(tokyo):
        assert timezone.localtime().utcoffset() == timedelta(hours=9)
        with tenant_context(berlin):
            assert timezone.get_current_timezone_name() == "Europe/Berlin"
        # The inner context gives the outer one its zone back...
        assert timezone.get_current_timezone_name() == "Asia/Tokyo"
    # ...and the outermost the zone that was active before.
    assert timezone.get_current_timezone_name() == "UTC"
    assert timezone.localtime().utcoffset() == timedelta(0)


def test_the_zone_is_given_back_when_the_block_fails(db):
    tokyo = TenantFactory(slug="tokyo", time_zone="Asia/Tokyo")
    with pytest.raises(RuntimeError), tenant_context(tokyo):
        raise RuntimeError("the block failed")
    assert timezone.get_current_timezone_name() == "UTC"
