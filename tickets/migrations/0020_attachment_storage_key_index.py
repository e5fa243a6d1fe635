from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0019_inbound_claimed_until"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="attachment",
            index=models.Index(fields=["tenant", "storage_key"], name="attachment_storage_key_idx"),
        ),
    ]
