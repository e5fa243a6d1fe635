"""Mail the core app sends itself (invitations, the set-up page's test
mail), and the sender every mail of a tenant goes out as.

tickets/mail.py sends ticket mail with the same sender (`tenant_sender`);
the core app cannot import tickets, so it sends through django.core.mail
directly, with the same backend, timeout and sender.
"""

from __future__ import annotations

from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import Tenant


def tenant_sender_address(tenant: Tenant) -> str:
    """The address mail of this tenant comes from: its support address, else
    the installation's DEFAULT_FROM_EMAIL."""
    return tenant.support_email or settings.DEFAULT_FROM_EMAIL


def tenant_sender(tenant: Tenant) -> str:
    """`"Acme Support" <help@acme.example>`, as every mail of the tenant is sent."""
    return formataddr((tenant.name, tenant_sender_address(tenant)))


def tenant_mail_send(*, tenant: Tenant, to: list[str], subject: str, template: str, context: dict):
    """Send one mail of the tenant now (text from `<template>.txt`, HTML
    from `<template>.html`); raises what the mail server raises."""
    context = {"tenant": tenant, **context}
    mail = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=tenant_sender(tenant),
        to=to,
        headers={"Auto-Submitted": "auto-generated"},
    )
    mail.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    mail.send()


def tenant_test_mail_send(*, tenant: Tenant, to: str) -> tuple[bool, str]:
    """Send the set-up page's test mail now. (True, what happened) or
    (False, why not), in words an admin can act on; never raises."""
    import smtplib

    try:
        tenant_mail_send(
            tenant=tenant,
            to=[to],
            subject=f"Test mail from {tenant.name}",
            template="helpdesk/email/test_mail",
            context={"sender": tenant_sender(tenant)},
        )
    except smtplib.SMTPAuthenticationError:
        return False, "The mail server refused our user name or password (EMAIL_HOST_USER)."
    except smtplib.SMTPRecipientsRefused:
        return False, f"The mail server refused to send to {to}."
    except smtplib.SMTPSenderRefused:
        return False, (
            f"The mail server refused to send as {tenant_sender_address(tenant)}: "
            "it may not be allowed to send for that domain."
        )
    except TimeoutError:
        return False, f"The mail server did not answer within {settings.EMAIL_TIMEOUT} seconds."
    except (smtplib.SMTPException, OSError) as error:
        return False, f"The mail could not be sent: {type(error).__name__}."
    return True, f"Sent to {to} from {tenant_sender(tenant)}. Check that it arrived."
