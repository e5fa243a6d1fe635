"""The beat sweeps fan out: they learn from the control plane which tenants
have work due, hand each such tenant a sweep of its own, and one tenant's
failure never stops another's. A mark is never cleared while work recorded
for it is still being committed."""

import threading
import time
from unittest import mock

import pytest
from django.db import connection

from helpdesk.models import TenantWork
from helpdesk.tenancy import current_tenant, tenant_context
from tests.tickets.test_intake import mail
from tickets import intake, services, sweeps, tasks
from tickets.models import InboundEmail, Ticket


def _mailbox(tenant, address):
    with tenant_context(tenant):
        return services.mailbox_create(name="Support", address=address)[0]


def _store_unscheduled(tenant, mailbox, subject):
    """Mail stored whose publish was lost (the broker was down)."""
    with mock.patch.object(tasks.process_inbound_batch, "delay"), tenant_context(tenant):
        intake.inbound_store(mailbox=mailbox, raw=mail(subject=subject))


def _mark(tenant, kind):
    return TenantWork.objects.filter(tenant=tenant, kind=kind).values_list("due_at", flat=True)[0]


@pytest.mark.django_db(transaction=True)
def test_a_tenant_whose_sweep_fails_does_not_stop_another_tenants_mail_from_being_filed(
    tenant, other_tenant, settings, eager
):
    settings.INTAKE_SWEEP_GRACE_SECONDS = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The failing tenant's mail waits longest, so its sweep comes first.
    _store_unscheduled(tenant, _mailbox(tenant, "help@acme.example"), "Acme mail")
    _store_unscheduled(other_tenant, _mailbox(other_tenant, "help@globex.example"), "Globex mail")
    real_sweep = sweeps.stored_mail_sweep

    def sweep_failing_for_acme(**kwargs):
        if current_tenant().pk == tenant.pk:
            raise RuntimeError("acme's sweep hit a bug")
        return real_sweep(**kwargs)

    with mock.patch.object(sweeps, "stored_mail_sweep", side_effect=sweep_failing_for_acme):
        assert tasks.sweep_stored_mail() == 2

    with tenant_context(other_tenant):
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Globex mail"]
    with tenant_context(tenant):
        assert InboundEmail.objects.get().status == InboundEmail.Status.RECEIVED
        assert not Ticket.objects.exists()
    # Acme's mark still stands: the next beat sweeps it again, and files it.
    assert _mark(tenant, sweeps.STORED_MAIL_WORK) is not None
    tasks.sweep_stored_mail()
    with tenant_context(tenant):
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Acme mail"]


@pytest.mark.django_db(transaction=True)
def test_the_beat_visits_only_tenants_with_work_and_forgets_them_when_done(
    tenant, other_tenant, settings, eager
):
    settings.INTAKE_SWEEP_GRACE_SECONDS = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _store_unscheduled(tenant, _mailbox(tenant, "help@acme.example"), "Only acme has mail")
    with mock.patch.object(tasks.sweep_tenant_stored_mail, "apply_async") as sweeps_sent:
        assert tasks.sweep_stored_mail() == 1
    assert sweeps_sent.call_args.kwargs["kwargs"]["tenant_id"] == tenant.pk
    tasks.sweep_stored_mail()  # files it
    tasks.sweep_stored_mail()  # looks again: nothing waits any more
    assert _mark(tenant, sweeps.STORED_MAIL_WORK) is None
    assert tasks.sweep_stored_mail() == 0
    assert not TenantWork.objects.filter(tenant=other_tenant).exists()


@pytest.mark.django_db(transaction=True)
def test_mail_stored_while_a_sweep_looks_is_not_lost(tenant, mailbox, settings):
    """The store's transaction has not committed when the tenant's sweep
    looks: the sweep waits for it, sees the mail and keeps the mark,
    instead of finding nothing and clearing the mark."""
    stored, commit = threading.Event(), threading.Event()
    results, errors = [], []

    def store():
        try:
            with tenant_context(tenant):
                intake.inbound_store(mailbox=mailbox, raw=mail(subject="Mid-sweep"))
                stored.set()
                commit.wait(10)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sweep():
        try:
            result = tasks.sweep_tenant_stored_mail.apply(
                kwargs={"tenant_id": tenant.pk, "grace_seconds": 0}, throw=True
            )
            results.append(result.result)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(tasks.process_inbound_batch, "delay") as scheduled:
        storer = threading.Thread(target=store)
        storer.start()
        assert stored.wait(10)
        sweeper = threading.Thread(target=sweep)
        sweeper.start()
        time.sleep(0.5)
        assert sweeper.is_alive()  # waiting for the store to commit
        commit.set()
        storer.join(10)
        sweeper.join(10)
    assert errors == []
    assert results == [True]  # it saw the mail and scheduled it
    assert scheduled.call_count == 2  # the store's own publish, and the sweep's
    assert _mark(tenant, sweeps.STORED_MAIL_WORK) is not None


@pytest.mark.django_db(transaction=True)
def test_mailbox_polls_go_to_tenants_with_imap_mailboxes_only(
    tenant, other_tenant, settings, eager
):
    settings.ALLOW_PRIVATE_HOSTS = True
    _mailbox(other_tenant, "webhook@globex.example")  # no IMAP: never polled
    with tenant_context(tenant):
        box, _ = services.mailbox_create(
            name="IMAP",
            address="imap@acme.example",
            imap_host="127.0.0.1",
            imap_port=1143,
            imap_user="support",
            imap_password="secret",
        )
    with mock.patch.object(tasks.poll_imap_mailbox, "apply_async") as polls:
        assert tasks.poll_imap_mailboxes() == 1
        assert tasks.poll_imap_mailboxes() == 1  # every beat while it has one
    assert [call.kwargs["kwargs"] for call in polls.call_args_list] == [
        {"tenant_id": tenant.pk, "mailbox_id": box.pk}
    ] * 2

    with tenant_context(tenant):
        services.mailbox_update(mailbox=box, actor=None, is_active=False)
    with mock.patch.object(tasks.poll_imap_mailbox, "apply_async") as polls:
        tasks.poll_imap_mailboxes()  # finds none left, and forgets the tenant
        assert tasks.poll_imap_mailboxes() == 0
    polls.assert_not_called()
