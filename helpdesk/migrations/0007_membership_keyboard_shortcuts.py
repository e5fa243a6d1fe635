from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0006_tenant_work"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="keyboard_shortcuts",
            field=models.BooleanField(default=True),
        ),
    ]
