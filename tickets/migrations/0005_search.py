import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.text
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0004_lookup_indexes'),
    ]

    operations = [
        # btree_gin: GIN indexes that start with tenant_id (a bigint). A
        # trusted extension, so the database owner may create it.
        BtreeGinExtension(),
        migrations.AddField(
            model_name='contact',
            name='search_vector',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('name', 'email', django.db.models.functions.text.Replace('email', models.Value('@'), models.Value(' ')), config='simple', weight='B'), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddField(
            model_name='message',
            name='search_vector',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('body_text', config='simple', weight='D'), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddField(
            model_name='ticket',
            name='search_vector',
            field=models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('subject', config='simple', weight='A'), output_field=django.contrib.postgres.search.SearchVectorField()),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=django.contrib.postgres.indexes.GinIndex(fields=['tenant', 'search_vector'], name='contact_search_idx'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=django.contrib.postgres.indexes.GinIndex(fields=['tenant', 'search_vector'], name='message_search_idx'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=django.contrib.postgres.indexes.GinIndex(fields=['tenant', 'search_vector'], name='ticket_search_idx'),
        ),
    ]
