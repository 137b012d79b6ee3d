"""Standard 2026.4: 2026.3 with the two incident kinds the gateway opens from
stage 2 when the deployed endpoint does not attest the audited system
(``endpoint_not_as_audited``, ``endpoint_unattested``; docs/staged-release.md).

It supersedes a default standard in force (2026.3, or an earlier default on a
database that skipped it); a standard an operator put in force stays in force
and 2026.4 is left as a draft beside it. Published standards are never edited."""

from django.db import migrations

from standards.publish import default_standard_publish

# The defaults as this migration first published them; a later default is a new version.
VERSION = "2026.4"
# The default standards this one may supersede.
SUPERSEDES = ("2026.1", "2026.2", "2026.3")


def load(apps, schema_editor):
    default_standard_publish(apps, version=VERSION, supersedes=SUPERSEDES)


class Migration(migrations.Migration):
    dependencies = [("standards", "0005_standard_2026_3")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
