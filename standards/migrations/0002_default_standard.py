from django.db import migrations
from django.utils import timezone

from standards.defaults import DEFAULT_INCIDENT_KINDS, DEFAULT_STANDARD, DEFAULT_SUITES
from standards.digest import standard_digest


def load(apps, schema_editor):
    Standard = apps.get_model("standards", "Standard")
    if Standard.objects.filter(version=DEFAULT_STANDARD["version"]).exists():
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
    standard = Standard.objects.create(
        **DEFAULT_STANDARD,
        status="in_force",
        in_force_from=timezone.now(),
        content_digest=standard_digest(DEFAULT_STANDARD, suites, incidents),
    )
    for s in suites:
        standard.suite_requirements.create(**s)
    for i in incidents:
        standard.incident_kinds.create(**i)


class Migration(migrations.Migration):
    dependencies = [("standards", "0001_initial"), ("labs", "0002_affordance_catalogue")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
