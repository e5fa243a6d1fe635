"""Thin Celery tasks of the core app."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings

from .mail import tenant_mail_send
from .models import Invitation
from .tenancy import TenantTask, current_tenant

logger = logging.getLogger(__name__)


@shared_task(
    base=TenantTask,
    bind=True,
    soft_time_limit=settings.MAIL_SEND_TIME_LIMIT_SECONDS,
    time_limit=settings.MAIL_SEND_TIME_LIMIT_SECONDS + 30,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=6,
)
def invitation_send(self, *, tenant_id: int, invitation_id: int, accept_url: str) -> str:
    """Mail an invitation's link, unless it was used or withdrawn meanwhile."""
    invitation = Invitation.objects.select_related("invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return "not sent: the invitation is no longer open"
    tenant = current_tenant()
    tenant_mail_send(
        tenant=tenant,
        to=[invitation.email],
        subject=f"You are invited to {tenant.name}",
        template="helpdesk/email/invitation",
        context={"invitation": invitation, "accept_url": accept_url},
    )
    return "sent"
