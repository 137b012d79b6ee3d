# The release state moved to the releases app (same table, deploy_release):
# the enrolment's foreign key now names it. State only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_enrolment_consent"),
        ("releases", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="enrolment",
                    name="release",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="enrolments", to="releases.release"),
                ),
            ],
        ),
    ]
