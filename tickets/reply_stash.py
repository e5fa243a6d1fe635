"""Files chosen for a reply that was refused (a stale page, a missing body)
are kept until the agent sends it again.

A browser cannot put files back into a file input, so the refused request's
uploads are stored under `reply-stash/<tenant>/<day>/<random>` and the page
carries a signed reference to them: it names the tenant, the agent and the
ticket, and is refused after STASH_MAX_AGE, so it cannot be replayed by
anyone else or elsewhere. Sending the reply uses the files and deletes them;
stashes older than a day are removed the next time anyone of the tenant
stashes (no table, no beat job: it is scratch space).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from .attachments import attachment_name_normalised, attachment_refusal

SALT = "tickets.reply-stash"
STASH_MAX_AGE = 24 * 3600
_ROOT = "reply-stash"
_KEY = re.compile(r"^\d{8}/[0-9a-f]{32}$")


@dataclass(frozen=True)
class StashedFile:
    key: str  # "<yyyymmdd>/<random>", under the tenant's folder
    name: str
    size: int
    content_type: str


def _path(tenant_id: int, key: str) -> str:
    return f"{_ROOT}/{tenant_id}/{key}"


def stash_uploads(*, tenant_id: int, uploads, room: int) -> tuple[list[StashedFile], list[str]]:
    """Keep up to `room` of `uploads` that could be attached; returns those
    kept and a sentence for each one left out (a refused type, too many)."""
    _sweep(tenant_id)
    kept: list[StashedFile] = []
    left_out: list[str] = []
    day = timezone.now().strftime("%Y%m%d")
    for upload in uploads:
        refusal = attachment_refusal(upload)
        if refusal:
            left_out.append(refusal)
            continue
        if len(kept) >= room:
            name = attachment_name_normalised(upload.name)
            left_out.append(f"{name}: too many files for one message, so it was not kept.")
            continue
        key = f"{day}/{secrets.token_hex(16)}"
        upload.seek(0)
        default_storage.save(_path(tenant_id, key), upload)
        kept.append(
            StashedFile(
                key=key,
                name=attachment_name_normalised(upload.name),
                size=upload.size,
                content_type=(getattr(upload, "content_type", "") or "")[:120],
            )
        )
    return kept, left_out


def stash_token(*, tenant_id: int, user_id: int, ticket_number: int, files) -> str:
    """The signed reference a page carries; empty when nothing is kept."""
    if not files:
        return ""
    return signing.dumps(
        {
            "t": tenant_id,
            "u": user_id,
            "n": ticket_number,
            "f": [[f.key, f.name, f.size, f.content_type] for f in files],
        },
        salt=SALT,
        compress=True,
    )


def stash_read(
    token: str, *, tenant_id: int, user_id: int, ticket_number: int
) -> list[StashedFile]:
    """The files a reference names, if it is ours, this agent's, for this
    ticket, recent, and the files still exist; otherwise none."""
    if not token:
        return []
    try:
        data = signing.loads(token, salt=SALT, max_age=STASH_MAX_AGE)
    except signing.BadSignature:
        return []
    if (data.get("t"), data.get("u"), data.get("n")) != (tenant_id, user_id, ticket_number):
        return []
    files = []
    for key, name, size, content_type in data.get("f", []):
        if _KEY.match(key) and default_storage.exists(_path(tenant_id, key)):
            files.append(StashedFile(key, name, size, content_type))
    return files


def stash_open(*, tenant_id: int, files) -> list[File]:
    """The stashed files as uploads the services take (close them after)."""
    opened = []
    for stashed in files:
        handle = File(default_storage.open(_path(tenant_id, stashed.key), "rb"), name=stashed.name)
        handle.content_type = stashed.content_type
        opened.append(handle)
    return opened


def stash_delete(*, tenant_id: int, files) -> None:
    for stashed in files:
        default_storage.delete(_path(tenant_id, stashed.key))


def _sweep(tenant_id: int) -> None:
    """Remove this tenant's stashes from before yesterday (drafts abandoned)."""
    folder = f"{_ROOT}/{tenant_id}"
    oldest_kept = (timezone.now() - timedelta(seconds=STASH_MAX_AGE)).strftime("%Y%m%d")
    try:
        days, _ = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for day in days:
        if not re.fullmatch(r"\d{8}", day) or day >= oldest_kept:
            continue
        _, names = default_storage.listdir(f"{folder}/{day}")
        for name in names:
            default_storage.delete(f"{folder}/{day}/{name}")
        # Another request may have put a file there meanwhile: next time, then.
        with contextlib.suppress(OSError):
            default_storage.delete(f"{folder}/{day}")
