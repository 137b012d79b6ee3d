# The release state moved to the releases app without moving its table
# (releases/migrations/0001_initial.py): gate requests' foreign key names it,
# and deploy's copy leaves the state. Nothing changes in the database.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("deploy", "0003_regulator_decision"),
        ("releases", "0001_initial"),
        # Every other foreign key to the release points at releases first.
        ("customers", "0004_enrolment_release_in_releases"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="gaterequest",
                    name="release",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="gate_requests", to="releases.release"),
                ),
                migrations.DeleteModel(name="Release"),
            ],
        ),
    ]
