"""Standard 2026.3: suite requirements may be reported without gating
(``SuiteRequirement.gates``); the suites that are still smoke tests (cyber
offence CTF, autonomous replication, human manipulation) are required and
reported but do not gate; the insider-trading protocol runs the paper's
neutral-risk default (suite 3.0), with and without the scratchpad.

It supersedes a default standard in force (2026.1 on a fresh database, where
2026.2 is skipped because the defaults have moved on; 2026.2 on a database
that already has it). A standard an operator put in force stays in force and
2026.3 is left as a draft beside it. Published standards are never edited."""

from django.db import migrations, models

from standards.publish import default_standard_publish

# The defaults as this migration first published them; a later default is a new version.
VERSION = "2026.3"
# The default standards this one may supersede.
SUPERSEDES = ("2026.1", "2026.2")


def load(apps, schema_editor):
    default_standard_publish(apps, version=VERSION, supersedes=SUPERSEDES)


class Migration(migrations.Migration):
    dependencies = [("standards", "0004_standard_2026_2")]
    operations = [
        migrations.AddField(
            model_name="suiterequirement",
            name="gates",
            field=models.BooleanField(
                default=True, help_text="Whether the result decides the gate; otherwise it is reported only"
            ),
        ),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
