"""On PostgreSQL the database itself refuses to update or delete the log's
leaves, nodes, signed tree heads and the regulator's inbox (the function is
core's, from core/migrations/0002)."""

from django.db import migrations

TABLES = ["transparency_logentry", "transparency_lognode", "transparency_signedtreehead", "transparency_regulatorinbox"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION stagegate_refuse_change();",
                params=None,
            )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)


class Migration(migrations.Migration):
    dependencies = [("transparency", "0001_log"), ("core", "0002_audit_event_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
