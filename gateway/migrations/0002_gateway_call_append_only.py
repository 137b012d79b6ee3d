"""On PostgreSQL the database refuses to update or delete access-log rows, so
nobody (a lab included) can rewrite the record of auditors' calls."""

from django.db import migrations

from core.migration_ops import refuse_changes


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0001_tokens_and_calls"),
        ("core", "0002_audit_event_append_only"),  # defines stagegate_refuse_change()
    ]
    operations = [refuse_changes("gateway_gatewaycall")]
