from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0007_notification_kinds_preferences_digests"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="keyboard_shortcuts",
            field=models.BooleanField(default=True),
        ),
    ]
