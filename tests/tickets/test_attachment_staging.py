"""Attachment files are written before the transaction that records them
(stage, then commit): no lock is held while they upload, a refused write
leaves no file behind, and a file no row came to name is swept."""

import os
import time
from datetime import timedelta
from email.message import EmailMessage
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.tenancy import tenant_context
from tests.factories import ContactFactory, TicketFactory
from tickets import intake, services
from tickets.models import Attachment, InboundEmail, Ticket
from tickets.services import attachments as staging
from tickets.services import tickets as ticket_services

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def _upload(name="report.pdf"):
    return SimpleUploadedFile(name, PDF, "application/pdf")


def _files(tenant) -> list[str]:
    """Every staged attachment file of the tenant, as storage names."""
    root = f"attachments/{tenant.pk}"
    if not default_storage.exists(root):
        return []
    days, _ = default_storage.listdir(root)
    return sorted(
        f"{root}/{day}/{name}"
        for day in days
        for name in default_storage.listdir(f"{root}/{day}")[1]
    )


def _age(name: str, seconds: int) -> None:
    then = time.time() - seconds
    os.utime(default_storage.path(name), (then, then))


def test_a_created_ticket_keeps_its_file_and_the_sweep_leaves_it(tenant, in_tenant):
    ticket = services.ticket_create(
        requester=ContactFactory(), subject="Invoice", body="Attached.", attachments=[_upload()]
    )
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert _files(tenant) == [attachment.file.name]
    assert attachment.file.read() == PDF
    _age(attachment.file.name, 3 * 3600)
    assert services.attachments_sweep_orphans(older_than=timedelta(0)) == 0
    assert _files(tenant) == [attachment.file.name]


def test_a_creation_the_database_refuses_leaves_no_file(tenant, in_tenant):
    refused = IntegrityError("the write failed after the files were staged")
    with mock.patch.object(ticket_services, "events_record", side_effect=refused):
        with pytest.raises(IntegrityError):
            services.ticket_create(
                requester=ContactFactory(), subject="Invoice", body="x", attachments=[_upload()]
            )
    assert not Attachment.objects.exists()
    assert _files(tenant) == []  # removed at once, not left for the sweep


def test_a_refused_file_is_named_and_nothing_is_written(tenant, in_tenant):
    program = SimpleUploadedFile("setup.exe", b"MZ" + b"\0" * 100)
    with pytest.raises(ValidationError, match="setup.exe: .exe files are not accepted"):
        services.ticket_create(
            requester=ContactFactory(),
            subject="Invoice",
            body="x",
            attachments=[_upload(), program],
        )
    assert not Ticket.objects.exists()
    assert _files(tenant) == []


def test_a_creation_its_caller_rolls_back_leaves_an_orphan_the_sweep_removes(tenant, in_tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.ticket_create(
            requester=ContactFactory(), subject="Invoice", body="x", attachments=[_upload()]
        )
        raise RuntimeError("the caller's own step failed after the ticket was written")
    assert not Attachment.objects.exists()  # no row names the file...
    [orphan] = _files(tenant)  # ...which is still there
    # Within the grace it may still be a file about to be named: kept.
    assert services.attachments_sweep_orphans() == 0
    assert _files(tenant) == [orphan]
    _age(orphan, 2 * 3600)
    assert services.attachments_sweep_orphans() == 1
    assert _files(tenant) == []


def test_the_sweep_looks_at_staged_files_only_and_in_every_tenant(tenant, other_tenant):
    with tenant_context(tenant):
        kept = services.ticket_create(
            requester=ContactFactory(), subject="A", body="a", attachments=[_upload()]
        )
        named = Attachment.objects.get(message__ticket=kept).file.name
    yesterday = (timezone.now() - timedelta(days=1)).strftime("%Y%m%d")
    ours = default_storage.save(
        f"attachments/{tenant.pk}/{yesterday}/{'a' * 32}", ContentFile(b"1")
    )
    theirs = default_storage.save(
        f"attachments/{other_tenant.pk}/{yesterday}/{'b' * 32}", ContentFile(b"2")
    )
    # Stored before files were staged (no day folder): never the sweep's.
    flat = default_storage.save(f"attachments/{tenant.pk}/{'c' * 32}", ContentFile(b"3"))
    for name in (ours, theirs, flat, named):
        _age(name, 3 * 86400 // 2)
    assert services.attachments_sweep_orphans() == 2
    assert [default_storage.exists(name) for name in (ours, theirs, flat, named)] == [
        False,
        False,
        True,
        True,
    ]


def test_files_are_uploaded_before_the_ticket_number_is_reserved(tenant, in_tenant):
    steps = []
    write, reserve = staging._write, ticket_services._next_ticket_numbers

    def writing(*args, **kwargs):
        steps.append("upload")
        return write(*args, **kwargs)

    def reserving(*args, **kwargs):
        steps.append("number")
        return reserve(*args, **kwargs)

    with (
        mock.patch.object(staging, "_write", writing),
        mock.patch.object(ticket_services, "_next_ticket_numbers", reserving),
    ):
        services.tickets_create(
            [
                services.TicketDraft(
                    requester=ContactFactory(), subject=f"T{i}", body="x", attachments=[_upload()]
                )
                for i in range(2)
            ]
        )
    # While the counter is held, every other creation of the tenant waits.
    assert steps == ["upload", "upload", "number"]


def test_a_reply_uploads_before_the_ticket_is_locked_and_a_refused_one_leaves_no_file(
    tenant, in_tenant, agent
):
    ticket = TicketFactory()
    steps = []
    write, lock = staging._write, ticket_services._lock_current

    def writing(*args, **kwargs):
        steps.append("upload")
        return write(*args, **kwargs)

    def locking(*args, **kwargs):
        steps.append("lock")
        return lock(*args, **kwargs)

    with (
        mock.patch.object(staging, "_write", writing),
        mock.patch.object(ticket_services, "_lock_current", locking),
    ):
        services.message_add(
            ticket=ticket, kind="reply", body="See attached.", author_user=agent,
            attachments=[_upload()],
        )  # fmt: skip
    assert steps == ["upload", "lock"]
    services.ticket_change_status(
        ticket=ticket, actor=agent, status="closed", expected_version=None
    )
    with pytest.raises(ValidationError, match="closed"):
        services.message_add(
            ticket=ticket, kind="reply", body="One more.", author_user=agent,
            attachments=[_upload("second.pdf")],
        )  # fmt: skip
    assert _files(tenant) == [Attachment.objects.get().file.name]


def _mail_with_attachment(subject: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "help@acme.example", subject
    message["Message-ID"] = f"<{subject.replace(' ', '.')}@example.com>"
    message.set_content("See the attached report.")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    return message.as_bytes()


def test_intake_files_attachments_staged_before_and_drops_them_for_quarantined_mail(
    tenant, mailbox
):
    with tenant_context(tenant):
        for subject, sender in [("One", "ann@example.com"), ("Two", "bob@example.com")]:
            intake.inbound_store(mailbox=mailbox, raw=_mail_with_attachment(subject, sender))
        intake.inbound_process_pending(limit=10)  # a run of two, filed together
        assert sorted(Attachment.objects.values_list("file", flat=True)) == _files(tenant)
        assert Attachment.objects.count() == 2
        intake.inbound_store(mailbox=mailbox, raw=_mail_with_attachment("Three", "cy@example.com"))
        refused = ValidationError("Refused for the test.")
        with mock.patch.object(services, "tickets_create", side_effect=refused):
            [done] = intake.inbound_process_pending(limit=10)
        assert (done.status, done.reason) == ("quarantined", "Refused for the test.")
        assert sorted(Attachment.objects.values_list("file", flat=True)) == _files(tenant)


def test_intake_refiles_a_run_one_by_one_with_the_files_it_staged(tenant, mailbox):
    with tenant_context(tenant):
        for subject, sender in [("One", "ann@example.com"), ("Two", "bob@example.com")]:
            intake.inbound_store(mailbox=mailbox, raw=_mail_with_attachment(subject, sender))
        create = services.tickets_create

        def refuse_runs(drafts, **kwargs):
            if len(drafts) > 1:
                raise IntegrityError("the run could not be written")
            return create(drafts, **kwargs)

        with mock.patch.object(services, "tickets_create", refuse_runs):
            done = intake.inbound_process_pending(limit=10)
        assert [inbound.status for inbound in done] == ["processed", "processed"]
        assert InboundEmail.objects.filter(status="processed").count() == 2
        assert sorted(Attachment.objects.values_list("file", flat=True)) == _files(tenant)
        assert len(_files(tenant)) == 2  # each staged once, kept for the refiling
