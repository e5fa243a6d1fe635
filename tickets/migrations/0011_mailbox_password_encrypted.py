from django.db import migrations, models


def encrypt_existing(apps, schema_editor):
    from helpdesk import secret_box

    Tenant = apps.get_model("helpdesk", "Tenant")
    Mailbox = apps.get_model("tickets", "Mailbox")
    with schema_editor.connection.cursor() as cursor:
        # Row-level security shows a table's rows only for the tenant set.
        for tenant_id in Tenant.objects.values_list("pk", flat=True):
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
            for mailbox in Mailbox._base_manager.filter(tenant_id=tenant_id).exclude(
                imap_password=""
            ):
                mailbox.imap_password_encrypted = secret_box.encrypt(mailbox.imap_password)
                mailbox.save(update_fields=["imap_password_encrypted"])
        cursor.execute("SELECT set_config('app.tenant_id', '', true)")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0010_attachment_content_id")]

    operations = [
        migrations.AddField(
            model_name="mailbox",
            name="imap_password_encrypted",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="mailbox",
            name="imap_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="mailbox",
            name="imap_error",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
        migrations.RemoveField(model_name="mailbox", name="imap_password"),
    ]
