"""Create a mailbox for a tenant and print its webhook URL and token (shown once)."""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context
from tickets import services


class Command(BaseCommand):
    help = "Create a mailbox; prints the inbound webhook URL and its secret token."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug, e.g. acme")
        parser.add_argument("address", help="the address customers write to")
        parser.add_argument("--name", default="Support")

    def handle(self, *args, tenant, address, name, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        with tenant_context(found):
            mailbox, token = services.mailbox_create(name=name, address=address)
        url = reverse("tickets:inbound_webhook", args=[found.slug, mailbox.public_id])
        self.stdout.write(f"POST raw RFC 822 messages to {url}")
        self.stdout.write(f"with the header  X-Helpdesk-Token: {token}")
