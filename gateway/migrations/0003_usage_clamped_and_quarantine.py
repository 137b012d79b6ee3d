"""Hostile upstreams (issue 12): an access-log row says when the upstream's
usage was clamped, and entries the drain cannot store are quarantined in an
append-only table (on PostgreSQL a trigger refuses updates and deletes)."""

import uuid

import django.utils.timezone
from django.db import migrations, models

from core.migration_ops import refuse_changes


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0002_gateway_call_append_only'),
        ('core', '0002_audit_event_append_only'),  # defines stagegate_refuse_change()
    ]

    operations = [
        migrations.CreateModel(
            name='GatewayCallQuarantine',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('stream_id', models.CharField(max_length=64, unique=True)),
                ('reason', models.CharField(max_length=500)),
                ('entry', models.TextField(help_text="The stream entry's fields as JSON, as the drain read them")),
            ],
            options={
                'verbose_name_plural': 'gateway call quarantine',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='gatewaycall',
            name='usage_clamped',
            field=models.BooleanField(default=False, help_text='The upstream reported usage that was not a plausible count (negative, not an integer, unreadable, or above the ceiling); the counts above were clamped (gateway/usage.py)'),
        ),
        refuse_changes('gateway_gatewaycallquarantine'),
    ]
