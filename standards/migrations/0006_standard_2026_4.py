"""Standard 2026.4: 2026.3 with the two incident kinds the gateway opens from
stage 2 when the deployed endpoint does not attest the audited system
(``endpoint_not_as_audited``, ``endpoint_unattested``; docs/staged-release.md).

It supersedes a default standard in force (2026.3, or an earlier default on a
database that skipped it); a standard an operator put in force stays in force
and 2026.4 is left as a draft beside it. Published standards are never edited."""

from django.db import migrations
from django.utils import timezone

from standards.defaults import DEFAULT_INCIDENT_KINDS, DEFAULT_PROTOCOLS, DEFAULT_STANDARD, requirement_rows
from standards.digest import standard_digest
from standards.protocols import protocol_document

# The defaults as this migration first published them; a later default is a new version.
VERSION = "2026.4"
# The default standards this one may supersede.
SUPERSEDES = ("2026.1", "2026.2", "2026.3")


def load(apps, schema_editor):
    Standard = apps.get_model("standards", "Standard")
    if DEFAULT_STANDARD["version"] != VERSION or Standard.objects.filter(version=VERSION).exists():
        return
    suites = requirement_rows()
    incidents = [
        {"key": k, "name": n, "reporting_deadline_days": d, "serious": se, "suspends_stage": su}
        for k, n, d, se, su in DEFAULT_INCIDENT_KINDS
    ]
    protocols = {p["suite"]: protocol_document(p) for p in DEFAULT_PROTOCOLS}
    current = Standard.objects.filter(status="in_force").first()
    if current is not None and current.version not in SUPERSEDES:
        status = "draft"  # the operator's own standard stays in force
    else:
        status = "in_force"
        if current is not None:
            current.status = "superseded"
            current.save(update_fields=["status"])
    standard = Standard.objects.create(
        **DEFAULT_STANDARD,
        status=status,
        in_force_from=timezone.now() if status == "in_force" else None,
        protocols=protocols,
        content_digest=standard_digest(DEFAULT_STANDARD, suites, incidents, protocols) if status == "in_force" else "",
    )
    for s in suites:
        standard.suite_requirements.create(**s)
    for i in incidents:
        standard.incident_kinds.create(**i)


class Migration(migrations.Migration):
    dependencies = [("standards", "0005_standard_2026_3")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
