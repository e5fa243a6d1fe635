"""`migrate`, run as the role that owns the tables (MIGRATE_DATABASE_URL).

The app's own role owns nothing (helpdesk/db.py), so it cannot change the
schema; this command reconnects as the owner for the run, and the
post-migrate steps (row-level security, the app role's grants) run as it too.
"""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate

from helpdesk import db


class Command(migrate.Command):
    help = migrate.Command.help + " Connects as MIGRATE_DATABASE_URL's role."

    def handle(self, *args, **options):
        if settings.MIGRATE_DATABASE is None:
            if not settings.ALLOW_RLS_BYPASS_ROLE:
                raise CommandError(
                    "Set MIGRATE_DATABASE_URL to the role that owns the tables; DATABASE_URL's "
                    "role must own none of them (README, 'Using your own servers')."
                )
            return super().handle(*args, **options)
        with db.as_table_owner(options["database"]):
            return super().handle(*args, **options)
