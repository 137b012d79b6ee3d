"""Standard 2026.2: the default requirements with a protocol for every
required suite. It supersedes 2026.1 (published standards are never edited),
unless an operator has put another standard in force since."""

from django.db import migrations
from django.utils import timezone

from standards.defaults import DEFAULT_INCIDENT_KINDS, DEFAULT_PROTOCOLS, DEFAULT_STANDARD, DEFAULT_SUITES
from standards.digest import standard_digest
from standards.protocols import protocol_document

# The defaults as this migration first published them; a later default is a new version.
VERSION = "2026.2"


def load(apps, schema_editor):
    Standard = apps.get_model("standards", "Standard")
    if DEFAULT_STANDARD["version"] != VERSION or Standard.objects.filter(version=VERSION).exists():
        return
    suites = [
        {"suite": s, "min_suite_version": "", "stage": st, "trigger": t, "affordance_id": a, "risk_area": r,
         "threshold_metric": m, "threshold_max": mx}
        for s, st, t, a, r, m, mx in DEFAULT_SUITES
    ]
    incidents = [
        {"key": k, "name": n, "reporting_deadline_days": d, "serious": se, "suspends_stage": su}
        for k, n, d, se, su in DEFAULT_INCIDENT_KINDS
    ]
    protocols = {p["suite"]: protocol_document(p) for p in DEFAULT_PROTOCOLS}
    current = Standard.objects.filter(status="in_force").first()
    if current is not None and current.version != "2026.1":
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
    dependencies = [("standards", "0003_standard_protocols")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
