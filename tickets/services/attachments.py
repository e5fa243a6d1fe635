"""Attachment files: written to storage before the transaction that records
them (stage, then commit), and swept when no row came to name them.

A checked file is written to `attachments/<tenant>/<yyyymmdd>/<random>`
first; the Attachment row that names it is written afterwards, in the
service's transaction. So an upload to remote storage never runs while a
service holds a lock others wait for (the tenant's ticket counter, a
ticket's row), and a rollback leaves nothing half-written in the database:
only a file that no row names. A service that sees its own write fail
removes its files at once; otherwise (the caller's transaction rolled back,
the worker was lost) `attachments_sweep_orphans` removes them later.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context

from ..attachments import attachment_name_normalised, attachment_refusal
from ..models import Attachment, Message

logger = logging.getLogger(__name__)

_ROOT = "attachments"
_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StagedAttachment:
    """A checked file already in storage, waiting for the row that names it.

    The services take it wherever they take an upload, and do not write it
    again."""

    name: str  # its name in storage, which the row keeps
    storage_key: str
    filename: str
    content_type: str
    size: int
    content_id: str = ""


def _storage():
    return Attachment._meta.get_field("file").storage


def attachments_check(files: Sequence) -> None:
    """Refuse (ValidationError) too many files, or one that cannot be kept."""
    if len(files) > settings.ATTACHMENT_MAX_FILES:
        raise ValidationError(
            {"attachments": f"At most {settings.ATTACHMENT_MAX_FILES} files per message."}
        )
    for upload in files:
        if isinstance(upload, StagedAttachment):
            continue  # checked when it was staged
        refusal = attachment_refusal(upload)
        if refusal:
            raise ValidationError({"attachments": refusal})


def attachments_stage(files: Sequence, *, tenant_id: int) -> list[StagedAttachment]:
    """Check the files and write them to storage, ahead of the transaction
    that records them. Files staged before are passed through as they are.

    Raises ValidationError before writing anything when a file cannot be
    kept; if a write fails, the files written by this call are removed."""
    attachments_check(files)
    staged: list[StagedAttachment] = []
    written: list[StagedAttachment] = []
    try:
        for upload in files:
            if isinstance(upload, StagedAttachment):
                staged.append(upload)
                continue
            written.append(_write(upload, tenant_id))
            staged.append(written[-1])
    except BaseException:
        attachments_discard(written)
        raise
    return staged


def _write(upload, tenant_id: int) -> StagedAttachment:
    # Stored under the name it was checked under (attachment_refusal).
    filename = attachment_name_normalised(upload.name)
    content_type = (
        mimetypes.guess_type(filename)[0]
        or getattr(upload, "content_type", None)
        or "application/octet-stream"
    )
    key = secrets.token_hex(16)
    day = timezone.now().strftime("%Y%m%d")
    upload.seek(0)  # the content check read the start of it
    name = _storage().save(f"{_ROOT}/{tenant_id}/{day}/{key}", upload, max_length=300)
    return StagedAttachment(
        name=name,
        storage_key=key,
        filename=filename,
        content_type=content_type[:120],
        size=upload.size,
        # Set by mail intake on parts that HTML shows as "cid:" images.
        content_id=(getattr(upload, "content_id", "") or "")[:250],
    )


def attachments_discard(staged: Iterable[StagedAttachment]) -> None:
    """Remove staged files no row will name (their write was refused or
    rolled back). Never raises: what is left here the sweep removes."""
    storage = _storage()
    for file in staged:
        try:
            storage.delete(file.name)
        except Exception:  # noqa: BLE001 - storage errors vary by backend; the sweep retries
            logger.warning("staged attachment %s not removed; the sweep will", file.name)


def attachment_rows(message: Message, staged: Sequence[StagedAttachment]) -> list[Attachment]:
    """The rows that make staged files a message's attachments (not saved)."""
    return [
        Attachment(
            tenant_id=message.tenant_id,
            message=message,
            file=file.name,
            storage_key=file.storage_key,
            filename=file.filename,
            content_type=file.content_type,
            size=file.size,
            content_id=file.content_id,
        )
        for file in staged
    ]


def attachments_sweep_orphans(*, older_than: timedelta | None = None, days: int = 2) -> int:
    """Remove staged attachment files that no row names, written longer ago
    than `older_than` (ATTACHMENT_ORPHAN_GRACE_SECONDS by default) and at
    most `days` days before that; returns how many were removed. Run it
    hourly; after a longer stop, once with a larger `days`.

    Every tenant in turn, each in its own context. The grace must outlast
    any transaction that stages files (a request, a batch task): a file
    younger than it may still be about to be named. Safe to run anywhere,
    any time, twice at once."""
    if older_than is None:
        older_than = timedelta(seconds=settings.ATTACHMENT_ORPHAN_GRACE_SECONDS)
    cutoff = timezone.now() - older_than
    last_day = cutoff.strftime("%Y%m%d")
    # Only the day folders in the window are listed, never a tenant's whole
    # folder: that also holds every file stored before files were staged.
    folders = [(cutoff - timedelta(days=back)).strftime("%Y%m%d") for back in range(days + 1)]
    storage = _storage()
    removed = 0
    for tenant in Tenant.objects.order_by("pk"):
        for day in folders:
            folder = f"{_ROOT}/{tenant.pk}/{day}"
            try:
                _, names = storage.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            old = [
                key
                for key in names
                if _KEY.match(key)
                and (day < last_day or storage.get_modified_time(f"{folder}/{key}") < cutoff)
            ]
            if not old:
                continue
            named: set[str] = set()
            with tenant_context(tenant):
                for start in range(0, len(old), 1000):
                    named.update(
                        Attachment.objects.filter(
                            storage_key__in=old[start : start + 1000]
                        ).values_list("storage_key", flat=True)
                    )
            orphans = [key for key in old if key not in named]
            for key in orphans:
                storage.delete(f"{folder}/{key}")
            if orphans:
                logger.info("removed %d unnamed attachment files in %s", len(orphans), folder)
            removed += len(orphans)
    return removed
