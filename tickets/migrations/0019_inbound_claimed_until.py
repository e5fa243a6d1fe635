from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0018_event_kinds_registered_and_system_actor"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundemail",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
