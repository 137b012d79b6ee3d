# The release state moves from deploy to this app without moving its table:
# state only here (the model, with db_table "deploy_release"), and deploy's
# 0004 and customers' 0004 point their foreign keys at it and drop deploy's
# copy from the state. Nothing changes in the database but the content type's
# app label, so admin history and permissions follow the model.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


def content_type_follows(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="releases", model="release").exists():
        ContentType.objects.filter(app_label="deploy", model="release").update(app_label="releases")


def content_type_returns(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="deploy", model="release").exists():
        ContentType.objects.filter(app_label="releases", model="release").update(app_label="deploy")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("deploy", "0003_regulator_decision"),
        ("labs", "0003_system_version_declared_tools"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Release",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("stage", models.PositiveSmallIntegerField(choices=[(0, "Stage 0: internal"), (1, "Stage 1: certified auditors and vetted academics"), (2, "Stage 2: limited release to vetted customers"), (3, "Stage 3: broad rollout")], default=0)),
                        ("status", models.CharField(choices=[("active", "Active"), ("halted", "Halted by the regulator"), ("suspended", "Suspended (e.g. after a serious incident)")], default="active", max_length=12)),
                        ("reason", models.TextField(blank=True, help_text="Why the last change was made")),
                        ("stage_changed_at", models.DateTimeField(blank=True, null=True)),
                        ("status_changed_at", models.DateTimeField(blank=True, null=True)),
                        ("system_version", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="release", to="labs.systemversion")),
                    ],
                    options={
                        "db_table": "deploy_release",
                        "ordering": ["-created_at"],
                        "constraints": [models.CheckConstraint(condition=models.Q(("stage__gte", 0), ("stage__lte", 3)), name="release_stage_range"), models.CheckConstraint(condition=models.Q(("status__in", ["active", "halted", "suspended"])), name="release_status_valid")],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_type_follows, content_type_returns),
    ]
