"""Celery tasks of the portal: thin, arguments are ids."""

from celery import shared_task

from helpdesk.tenancy import TenantTask

from ..models import Contact
from .mail import portal_signin_mail_send


@shared_task(base=TenantTask, bind=True, soft_time_limit=60, time_limit=90)
def portal_signin_mail(self, *, tenant_id: int, contact_id: int) -> None:
    """Mail a contact a sign-in link (made here, so it never rides the broker)."""
    contact = Contact.objects.select_related("tenant").filter(pk=contact_id).first()
    if contact is not None:
        portal_signin_mail_send(contact=contact)
