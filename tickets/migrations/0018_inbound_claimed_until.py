from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0017_ticket_waiting_in_urgent_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="inboundemail",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
