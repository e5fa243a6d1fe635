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
