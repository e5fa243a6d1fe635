"""A mail that stops the worker (its memory, a hang ended by the time limit)
is tried a few times, then kept for an admin, and never holds back the rest;
a batch is cut by bytes and reads one mail's bytes at a time."""

import subprocess
import sys
import tracemalloc
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from helpdesk.tenancy import tenant_context
from tests.processes import ROOT, app_env
from tests.tickets.test_intake import mail
from tickets import intake
from tickets.intake import filing
from tickets.models import InboundEmail, Ticket

MB = 1024 * 1024
STOPPED_3_TIMES = "It stopped the worker 3 times while being read; kept for an admin."

# A worker process that files one batch, and dies on the spot (as the
# kernel's out-of-memory killer kills it: no cleanup, no rollback code runs)
# when it parses a mail marked for it.
WORKER = """
import os, sys
import django

django.setup()
from helpdesk.models import Tenant
from tickets import tasks
from tickets.intake import filing

tasks.process_event.delay = tasks.process_events.delay = lambda **kwargs: None
parse = filing.parse_email

def parse_or_die(raw, **kwargs):
    if b"X-Test: stops the worker" in raw:
        os._exit(137)
    return parse(raw, **kwargs)

filing.parse_email = parse_or_die
tenant = Tenant.objects.get(pk=int(sys.argv[1]))
print(len(filing.inbound_process_pending(tenant=tenant, limit=10)))
"""


def _store(tenant, mailbox, *raws):
    with tenant_context(tenant):
        for raw in raws:
            intake.inbound_store(mailbox=mailbox, raw=raw)


def _run_worker(tenant) -> subprocess.CompletedProcess:
    # A claim of 0 seconds: the next worker takes the mail at once, as it
    # would once a lost worker's claim ran out.
    return subprocess.run(
        [sys.executable, "-c", WORKER, str(tenant.pk)],
        cwd=ROOT,
        env=app_env(INTAKE_CLAIM_SECONDS="0", INTAKE_MAX_ATTEMPTS="3"),
        capture_output=True,
        timeout=120,
    )


def _subjects(tenant, **filters):
    with tenant_context(tenant):
        return sorted(Ticket.objects.filter(**filters).values_list("subject", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_mail_that_kills_the_worker_is_quarantined_after_3_tries_and_the_rest_filed(
    tenant, mailbox
):
    _store(
        tenant,
        mailbox,
        mail(subject="Before it", sender="ann@example.com"),
        mail(subject="Deadly", sender="eve@example.com", extra="X-Test: stops the worker\r\n"),
        mail(subject="After it", sender="bob@example.com"),
    )
    # 1st: "Before it" is read, then the worker dies on "Deadly": nothing filed.
    assert _run_worker(tenant).returncode == 137
    with tenant_context(tenant):
        attempts = dict(InboundEmail.objects.values_list("subject", "attempts"))
    assert attempts == {"Before it": 1, "Deadly": 1, "After it": 0}  # committed before reading
    assert _subjects(tenant) == []
    # 2nd: mail tried before goes last and alone, so the rest is filed
    # before "Deadly" kills the worker again.
    assert _run_worker(tenant).returncode == 137
    assert _subjects(tenant) == ["After it", "Before it"]
    assert _run_worker(tenant).returncode == 137  # 3rd
    # 4th: not read again; kept for an admin, with why.
    finished = _run_worker(tenant)
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    with tenant_context(tenant):
        deadly = InboundEmail.objects.get(subject="Deadly")
        assert (deadly.status, deadly.reason) == ("quarantined", STOPPED_3_TIMES)
        assert not InboundEmail.objects.filter(status="received").exists()
    assert _subjects(tenant) == ["After it", "Before it"]
    assert _run_worker(tenant).returncode == 0  # and nothing is left to die on


def test_a_mail_cut_off_by_the_time_limit_is_tried_again_and_the_rest_filed(
    tenant, mailbox, settings
):
    """The soft time limit ends the batch where it is: the mail at hand is
    not quarantined as unreadable, and the next batch takes the rest at once.
    A mail that runs into the limit every time is a mail that hangs."""
    settings.INTAKE_MAX_ATTEMPTS = 3
    _store(
        tenant,
        mailbox,
        mail(subject="Slow", sender="ann@example.com", extra="X-Test: slow\r\n"),
        mail(subject="Quick", sender="bob@example.com"),
    )
    parse = filing.parse_email

    def parse_slowly(raw, **kwargs):
        if b"X-Test: slow" in raw:
            raise SoftTimeLimitExceeded()
        return parse(raw, **kwargs)

    with tenant_context(tenant), mock.patch.object(filing, "parse_email", parse_slowly):
        with pytest.raises(SoftTimeLimitExceeded):
            intake.inbound_process_pending(limit=10)
        slow = InboundEmail.objects.get(subject="Slow")
        assert (slow.status, slow.attempts, slow.claimed_until) == ("received", 1, None)
        # The next batch files the other mail first, then tries the slow one again.
        with pytest.raises(SoftTimeLimitExceeded):
            intake.inbound_process_pending(limit=10)
        assert _subjects(tenant) == ["Quick"]
        with pytest.raises(SoftTimeLimitExceeded):
            intake.inbound_process_pending(limit=10)
        done = intake.inbound_process_pending(limit=10)
        assert [(inbound.subject, inbound.reason) for inbound in done] == [
            ("Slow", STOPPED_3_TIMES)
        ]


def test_mail_another_batch_holds_is_left_to_it(tenant, mailbox):
    _store(tenant, mailbox, mail(subject="Taken"), mail(subject="Free", sender="bob@example.com"))
    with tenant_context(tenant):
        taken = InboundEmail.objects.get(subject="Taken")
        claim = filing._claim(tenant, 1)  # a batch of one, still at work elsewhere
        assert [inbound.pk for inbound in claim] == [taken.pk]
        done = intake.inbound_process_pending(limit=10)
        assert [inbound.subject for inbound in done] == ["Free"]
        taken.refresh_from_db()
        assert (taken.status, taken.attempts) == ("received", 0)


def test_a_batch_of_five_20_mb_mails_is_cut_by_bytes_and_reads_one_mail_at_a_time(
    tenant, mailbox, settings
):
    settings.INTAKE_BATCH_MAX_BYTES = 50 * MB
    # Quarantined by size without being parsed: the test is about the batch.
    settings.INBOUND_EMAIL_MAX_BYTES = 10 * MB
    _store(tenant, mailbox, *[mail(subject=f"Big {i}", body="x" * 20 * MB) for i in range(5)])
    batches, peaks = [], []
    with tenant_context(tenant):
        for _ in range(4):
            tracemalloc.start()
            try:
                done = intake.inbound_process_pending(limit=100)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            batches.append([inbound.subject for inbound in done])
        assert batches == [["Big 0", "Big 1"], ["Big 2", "Big 3"], ["Big 4"], []]
        assert set(InboundEmail.objects.values_list("status", flat=True)) == {"quarantined"}
        assert "Larger than the limit" in InboundEmail.objects.first().reason
    # Two mails read one after the other take about the memory of one.
    assert peaks[0] < 1.5 * peaks[2], peaks


def test_one_mail_larger_than_the_batch_limit_is_still_taken(tenant, mailbox, settings):
    settings.INTAKE_BATCH_MAX_BYTES = 1000
    _store(tenant, mailbox, mail(subject="Long", body="y" * 5000), mail(subject="Short"))
    with tenant_context(tenant):
        assert [i.subject for i in intake.inbound_process_pending(limit=10)] == ["Long"]
        assert [i.subject for i in intake.inbound_process_pending(limit=10)] == ["Short"]


def test_a_batch_that_leaves_mail_waiting_schedules_the_next(
    tenant, mailbox, django_capture_on_commit_callbacks
):
    _store(tenant, mailbox, mail(subject="One"), mail(subject="Two", sender="bob@example.com"))
    with mock.patch.object(filing, "inbound_schedule") as schedule:
        with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
            intake.inbound_process_pending(limit=1)
        schedule.assert_called_once_with(tenant_id=tenant.pk)
        with tenant_context(tenant), django_capture_on_commit_callbacks(execute=True):
            intake.inbound_process_pending(limit=1)
        schedule.assert_called_once()  # nothing left behind the second time
