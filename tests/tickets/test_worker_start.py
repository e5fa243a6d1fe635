"""A worker that starts (or is restarted after a crash) files the mail that
was stored while no worker ran, without waiting for more mail or the sweep."""

import signal
import subprocess
import time
from unittest import mock

import pytest

from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.processes import ROOT, app_env
from tests.tickets.test_intake import mail
from tickets import intake, tasks
from tickets.models import InboundEmail, Ticket


def _start_worker(log_path, queues: str):
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "helpdesk", "worker", "-P", "solo",
             "-Q", queues, "-n", f"test-{queues.replace(',', '-')}@%h", "-l", "info"],
            cwd=ROOT, env=app_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(worker) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.mark.django_db(transaction=True)
def test_mail_stored_while_the_worker_was_down_is_filed_when_it_starts(tenant, mailbox, tmp_path):
    celery_app.control.purge()  # nothing left over from other tests
    # The batch task published for this mail died with the worker that took it.
    with mock.patch.object(tasks.process_inbound_batch, "delay"), tenant_context(tenant):
        intake.inbound_store(mailbox=mailbox, raw=mail(subject="Sent while the worker was down"))
    worker = _start_worker(tmp_path / "worker.log", "celery,intake")
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            with tenant_context(tenant):
                filed = list(Ticket.objects.values_list("subject", flat=True))
            if filed or worker.poll() is not None:
                break
            time.sleep(0.3)
    finally:
        _stop(worker)
    log = (tmp_path / "worker.log").read_text()
    assert filed == ["Sent while the worker was down"], log[-3000:]
    with tenant_context(tenant):
        assert not InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).exists()
