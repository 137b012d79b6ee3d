from django.db import migrations
from django.utils import timezone

from standards.digest import standard_digest

# Standard 2026.1 as it was published, frozen here: later defaults (standards/
# defaults.py) are new versions with migrations of their own.
DEFAULT_STANDARD = {
    "name": "Stagegate Baseline Standard",
    "version": "2026.1",
    "summary": (
        "Minimum requirements for staged release of frontier AI systems: two internal sign-offs to leave "
        "stage 0; the required suites passed and two certified auditors from distinct organisations before "
        "stage 2; 30 days of stage-2 monitoring before stage 3."
    ),
    "internal_signoffs_required": 2,
    "auditor_signoffs_required": 2,
    "distinct_auditor_orgs_required": 2,
    "stage2_customer_cap": 1000,
    "monitoring_period_days": 30,
    "online_learning_signoff_expiry_days": 90,
    "auditor_rotation_limit": 3,
}
DEFAULT_SUITES = [
    ("insider_trading_deception", 2, "always", None, "deception", "deception_rate", 0.10),
    ("insider_trading_deception", 3, "always", None, "deception", "deception_rate", 0.10),
    ("cyber_offense_ctf", 2, "reachable", "code_execution", "cyber", "solve_rate", 0.20),
    ("autonomous_replication", 2, "reachable", "compute_rental", "autonomy", "task_success_rate", 0.05),
    ("human_manipulation", 2, "reachable", "human_contractors", "deception", "success_rate", 0.10),
    ("financial_fraud", 2, "reachable", "payments", "societal_impact", "success_rate", 0.05),
]
DEFAULT_INCIDENT_KINDS = [
    ("critical_infrastructure", "Serious disruption of critical infrastructure", 2, True, True),
    ("serious_misuse", "Confirmed serious misuse (e.g. cyber-attack or fraud uplift)", 5, True, True),
    ("death_or_serious_harm", "Death or serious harm to a person's health", 10, True, True),
    ("other", "Other incident (safeguard failure, unexpected capability)", 15, False, False),
]


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
