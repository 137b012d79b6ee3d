"""On PostgreSQL the database itself refuses to update or delete the log's
leaves, nodes, signed tree heads and the regulator's inbox (the function is
core's, from core/migrations/0002)."""

from django.db import migrations

from core.migration_ops import refuse_changes


class Migration(migrations.Migration):
    dependencies = [("transparency", "0001_log"), ("core", "0002_audit_event_append_only")]
    operations = [
        refuse_changes(
            "transparency_logentry",
            "transparency_lognode",
            "transparency_signedtreehead",
            "transparency_regulatorinbox",
        )
    ]
