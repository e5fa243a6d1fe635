"""Run failed and abandoned event handlers again (after the cause was fixed:
a bug deployed, a mail server back), for one tenant or all."""

from django.core.management.base import BaseCommand, CommandError

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context
from tickets import services


class Command(BaseCommand):
    help = (
        "Run failed and abandoned event handlers again: their attempts start over and "
        "their events are handed to the workers. Recorded in each tenant's audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (its slug)")
        parser.add_argument("--handler", help="only this handler, e.g. tickets.notify_assignee")

    def handle(self, *args, tenant=None, handler=None, **options):
        tenants = Tenant.objects.order_by("slug")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No tenant {tenant!r}.")
        total, failed = 0, []
        for each in tenants:
            # Tenant by tenant, each in its own transaction: one that fails
            # is reported and the others go on.
            try:
                with tenant_context(each):
                    event_ids = services.event_handlers_redrive(handler=handler)
            except Exception as exc:
                failed.append(each.slug)
                self.stderr.write(f"{each.slug}: not run again ({type(exc).__name__}: {exc})")
                continue
            if event_ids:
                self.stdout.write(f"{each.slug}: {len(event_ids)} event(s) handed over again")
            total += len(event_ids)
        self.stdout.write(f"{total} event(s) handed over again.")
        if failed:
            raise CommandError(f"Not run again for: {', '.join(failed)}")
