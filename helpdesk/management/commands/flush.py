"""`flush`, run as the role that owns the tables (MIGRATE_DATABASE_URL).

It empties tables with TRUNCATE, which the app's role may not use (TRUNCATE
ignores row-level security). The tests that commit (transaction=True) are
cleaned up through this command too.
"""

from django.conf import settings
from django.core.management.commands import flush

from helpdesk import db


class Command(flush.Command):
    help = flush.Command.help + " Connects as MIGRATE_DATABASE_URL's role when it is set."

    def handle(self, **options):
        if settings.MIGRATE_DATABASE is None:
            return super().handle(**options)
        with db.as_table_owner(options["database"]):
            return super().handle(**options)
