"""Contacts: the people who write in, one per email address and tenant."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError

from helpdesk.tenancy import current_tenant

from ..models import Contact, Organization
from ..validators import validate_mail_address


def contact_get_or_create(*, email: str, name: str = "", phone: str = "") -> Contact:
    """The tenant's contact for an email address, created (and matched to an
    organisation by its email domain) when new."""
    return contacts_get_or_create([(email, name, phone)])[_normalized(email)]


def contacts_get_or_create(people: Sequence[tuple[str, str, str]]) -> dict[str, Contact]:
    """The contacts for (email, name, phone) triples by lower-case email,
    creating the missing ones: three statements however many people."""
    wanted: dict[str, tuple[str, str]] = {}
    for email, name, phone in people:
        email = _normalized(email)
        try:
            validate_mail_address(email)
        except ValidationError:
            raise ValidationError(
                {"requester_email": f"{email!r} is not an email address."}
            ) from None
        wanted.setdefault(email, (name, phone))
    # Stored lower-case: looked up with a plain "=", which can use the index
    # under row-level security (lower() and ILIKE are not leakproof, so
    # Postgres would not use them ahead of the policy).
    found = {contact.email: contact for contact in Contact.objects.filter(email__in=wanted)}
    # Sorted: two INSERTs of the same new addresses take their row locks in
    # the same order. (Contacts come before the ticket counter in every
    # writer's lock order: see tickets._next_ticket_numbers.)
    missing = sorted(email for email in wanted if email not in found)
    if not missing:
        return found
    organizations = _organizations_by_domain({email.rsplit("@", 1)[1] for email in missing})
    tenant = current_tenant()
    new = []
    for email in missing:
        name, phone = wanted[email]
        contact = Contact(
            tenant=tenant,
            email=email,
            name=name.strip()[:160],
            phone=phone.strip()[:40],
            organization=organizations.get(email.rsplit("@", 1)[1]),
        )
        # Uniqueness is the INSERT's job (below), not a query per contact.
        contact.full_clean(exclude=["tenant"], validate_unique=False, validate_constraints=False)
        new.append(contact)
    # Another worker may create the same address meanwhile: ON CONFLICT keeps
    # its row (setting the email to itself) and still returns the id.
    Contact.objects.bulk_create(
        new, update_conflicts=True, unique_fields=["tenant", "email"], update_fields=["email"]
    )
    found.update((contact.email, contact) for contact in new)
    return found


def _normalized(email: str) -> str:
    return email.strip().lower()


def _organizations_by_domain(domains: set[str]) -> dict[str, Organization]:
    by_domain: dict[str, Organization] = {}
    for organization in Organization.objects.filter(
        email_domains__overlap=sorted(domains)
    ).order_by("name"):
        for domain in organization.email_domains:
            by_domain.setdefault(domain.lower(), organization)
    return by_domain


def contact_mail_works(*, email: str) -> None:
    """Mail came from this address: if an earlier bounce stopped our mail to
    it, its owner is reachable again."""
    Contact.objects.filter(email=_normalized(email), email_bounced_at__isnull=False).update(
        email_bounced_at=None
    )
