"""Fold every ticket's events into the report facts again, from scratch."""

import sys

from django.core.management.base import BaseCommand, CommandError

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context
from reports.pages.services import page_facts_rebuild, page_rollups_recount
from reports.services import facts_rebuild, rollups_recount


class Command(BaseCommand):
    help = (
        "Rebuild a help desk's report figures from its ticket events (the same "
        "figures the event handler keeps current)."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="The help desk's slug, or 'all'.")
        parser.add_argument(
            "--rollups",
            action="store_true",
            help="Only count the daily rollups again from the facts as they are (fast).",
        )

    def handle(self, *args, tenant, rollups=False, **options):
        tenants = Tenant.objects.order_by("slug")
        if tenant != "all":
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"No help desk with the slug {tenant!r}.")
        for each in tenants:
            if rollups:
                with tenant_context(each):
                    rollups_recount()
                    page_rollups_recount()
                self.stdout.write(f"{each.slug}: daily rollups counted again.")
                continue
            with tenant_context(each):
                count = facts_rebuild(progress=self._progress(each.slug))
            self.stdout.write(f"\n{each.slug}: {count} tickets folded in.")
            # The report pages' facts (reports.pages): spells, replies, tags.
            with tenant_context(each):
                count = page_facts_rebuild(progress=self._progress(f"{each.slug} pages"))
            self.stdout.write(f"\n{each.slug}: {count} tickets folded into the report pages.")

    def _progress(self, slug):
        interactive = sys.stdout.isatty()

        def show(done: int, total: int) -> None:
            share = done / total if total else 1
            bar = "#" * int(share * 30)
            line = f"{slug}: [{bar:<30}] {share:4.0%} {done}/{total}"
            if interactive:
                self.stdout.write("\r" + line, ending="")
            else:
                self.stdout.write(line)

        return show
