"""On PostgreSQL the database refuses to update or delete access-log rows, so
nobody (a lab included) can rewrite the record of auditors' calls."""

from django.db import migrations

CREATE = """
CREATE TRIGGER gateway_gatewaycall_append_only
    BEFORE UPDATE OR DELETE ON gateway_gatewaycall
    FOR EACH ROW EXECUTE FUNCTION stagegate_refuse_change();
"""
DROP = "DROP TRIGGER IF EXISTS gateway_gatewaycall_append_only ON gateway_gatewaycall;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0001_tokens_and_calls"),
        ("core", "0002_audit_event_append_only"),  # defines stagegate_refuse_change()
    ]
    operations = [migrations.RunPython(forwards, backwards)]
