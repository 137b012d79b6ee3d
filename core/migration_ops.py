"""Migration operations shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def refuse_changes(*tables: str) -> migrations.RunPython:
    """On PostgreSQL, a trigger per table that refuses UPDATE and DELETE, so not
    even code that bypasses the ORM's guard (``core.models.AppendOnly``) can
    rewrite the rows. The trigger function is core's (core/migrations/0002):
    a migration using this depends on it."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for table in tables:
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION stagegate_refuse_change();",
                    params=None,
                )

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for table in tables:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)

    return migrations.RunPython(forwards, backwards)
