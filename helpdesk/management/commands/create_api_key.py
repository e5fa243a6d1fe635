"""Create an API key for a tenant and print it (the only time it is shown)."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from helpdesk import services
from helpdesk.models import ApiKey, Tenant
from helpdesk.tenancy import tenant_context


class Command(BaseCommand):
    help = "Create an API key; prints the key once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="tenant slug, e.g. acme")
        parser.add_argument("name", help="what will use the key, e.g. 'Phone system'")
        parser.add_argument("--scope", choices=ApiKey.Scope.values, default=ApiKey.Scope.READ)
        parser.add_argument(
            "--created-by", help="username of the tenant admin the key is made for (optional)"
        )

    def handle(self, *args, tenant, name, scope, created_by, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        actor = None
        if created_by:
            actor = get_user_model().objects.filter(username=created_by).first()
            if actor is None:
                raise CommandError(f"No user {created_by!r}.")
        try:
            with tenant_context(found):
                api_key, raw_key = services.api_key_create(actor=actor, name=name, scope=scope)
        except (ValidationError, PermissionDenied) as error:
            raise CommandError("; ".join(getattr(error, "messages", [str(error)]))) from None
        self.stdout.write(f"API key {api_key.name!r} ({api_key.scope}) for {found.slug}:")
        self.stdout.write(raw_key)
        self.stdout.write("Store it now: it is not shown again.")
