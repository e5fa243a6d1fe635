"""django-guardian is no longer installed (DESIGN.md, "Tenancy"): its two
tables, made by its own migrations, are dropped when they are empty, as they
are wherever it was never used. Tables that hold grants are kept, with a
notice: nothing reads them any more, but they are not ours to throw away."""

from django.db import migrations

DROP_IF_EMPTY = """
DO $$
BEGIN
    IF to_regclass('guardian_userobjectpermission') IS NULL
       OR to_regclass('guardian_groupobjectpermission') IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM guardian_userobjectpermission)
       OR EXISTS (SELECT 1 FROM guardian_groupobjectpermission) THEN
        RAISE NOTICE 'guardian_* tables kept: they hold object permissions nothing reads';
        RETURN;
    END IF;
    DROP TABLE guardian_groupobjectpermission, guardian_userobjectpermission;
    DELETE FROM django_migrations WHERE app = 'guardian';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0004_audit_entries"),
    ]

    operations = [
        migrations.RunSQL(DROP_IF_EMPTY, reverse_sql=migrations.RunSQL.noop),
    ]
