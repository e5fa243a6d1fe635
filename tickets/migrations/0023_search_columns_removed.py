"""The search columns of tickets, contacts and messages and their indexes
go: the words are in the search tables now (0022_search_tables)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0022_search_tables"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="ticket", name="ticket_search_idx"),
        migrations.RemoveIndex(model_name="contact", name="contact_search_idx"),
        migrations.RemoveIndex(model_name="message", name="message_search_idx"),
        migrations.RemoveField(model_name="ticket", name="search_vector"),
        migrations.RemoveField(model_name="contact", name="search_vector"),
        migrations.RemoveField(model_name="message", name="search_vector"),
    ]
