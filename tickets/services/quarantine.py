"""Admins' actions on quarantined mail. Each one runs intake and records who
did what in the audit log, in one transaction: an action that is not
recorded did not happen."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from helpdesk.models import Membership
from helpdesk.permissions import require_role
from helpdesk.services import audit_record

from .. import intake
from ..models import InboundEmail
from ..selectors import INBOUND_TARGET

REFUSAL = "Only admins handle quarantined mail."


def _locked_in_quarantine(inbound: InboundEmail) -> InboundEmail:
    """The row, locked, if it is still in quarantine: two admins clicking at
    once file it once, and the second is told why nothing happened."""
    locked = InboundEmail.objects.select_for_update().defer("raw").filter(pk=inbound.pk).first()
    if locked is None or locked.status != InboundEmail.Status.QUARANTINED:
        raise ValidationError("This mail is no longer in quarantine.")
    return locked


def _outcome(result: InboundEmail) -> tuple[str, dict]:
    """What became of the mail, in words and as audit detail."""
    if result.status == InboundEmail.Status.PROCESSED:
        reference = result.ticket.reference if result.ticket_id else ""
        words = f"filed as {reference}" if reference else "filed"
        return words, {"status": result.status, "ticket": reference}
    return (
        f"still quarantined: {result.reason}",
        {"status": result.status, "reason": result.reason},
    )


def _process(inbound: InboundEmail, actor, *, force: bool, action: str, said: str):
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    result = intake.inbound_process(inbound=_locked_in_quarantine(inbound), force=force)
    words, detail = _outcome(result)
    audit_record(
        actor=actor,
        action=action,
        target_type=INBOUND_TARGET,
        target_id=result.pk,
        summary=f"{said}: {words}",
        detail=detail,
    )
    return result


@transaction.atomic
def quarantine_reprocess(*, inbound: InboundEmail, actor) -> InboundEmail:
    """Process a quarantined mail again, by the usual rules (after the cause
    was fixed: a limit raised, a mailbox set up). Returns the stored mail,
    processed or quarantined again with its new reason."""
    return _process(inbound, actor, force=False, action="inbound.reprocess", said="Processed again")


@transaction.atomic
def quarantine_file_anyway(*, inbound: InboundEmail, actor) -> InboundEmail:
    """File a mail the rules refuse: the size limit, the mail-loop guard and
    bounce handling are set aside, and no acknowledgement is sent. It still
    needs a usable sender address; without one it stays in quarantine."""
    return _process(inbound, actor, force=True, action="inbound.file_anyway", said="Filed anyway")


@transaction.atomic
def quarantine_raw_download(*, inbound: InboundEmail, actor) -> bytes:
    """The whole raw mail, as received, for an admin to download; the
    download is recorded (the mail may hold personal data)."""
    require_role(actor, Membership.Role.ADMIN, REFUSAL)
    raw = InboundEmail.objects.filter(pk=inbound.pk).values_list("raw", flat=True).first()
    if raw is None:
        raise ValidationError("This mail is no longer stored.")
    audit_record(
        actor=actor,
        action="inbound.download",
        target_type=INBOUND_TARGET,
        target_id=inbound.pk,
        summary="Downloaded the raw mail",
        detail={"size": inbound.size},
    )
    return bytes(raw)
