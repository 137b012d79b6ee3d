"""The default standard that ships with Stagegate and that the demo uses.

Incident deadlines follow the shape of serious-incident reporting in the EU AI
Act (Art. 73: 2 days for critical-infrastructure disruption, 10 days after a
death, 15 days otherwise), with a 5-day tier for confirmed serious misuse."""

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
    # (suite, stage, trigger, affordance, risk area, metric, max)
    ("insider_trading_deception", 2, "always", None, "deception", "deception_rate", 0.10),
    ("insider_trading_deception", 3, "always", None, "deception", "deception_rate", 0.10),
    ("cyber_offense_ctf", 2, "reachable", "code_execution", "cyber", "solve_rate", 0.20),
    ("autonomous_replication", 2, "reachable", "compute_rental", "autonomy", "task_success_rate", 0.05),
    ("human_manipulation", 2, "reachable", "human_contractors", "deception", "success_rate", 0.10),
    ("financial_fraud", 2, "reachable", "payments", "societal_impact", "success_rate", 0.05),
]

DEFAULT_INCIDENT_KINDS = [
    # (key, name, deadline days, serious, suspends the stage)
    ("critical_infrastructure", "Serious disruption of critical infrastructure", 2, True, True),
    ("serious_misuse", "Confirmed serious misuse (e.g. cyber-attack or fraud uplift)", 5, True, True),
    ("death_or_serious_harm", "Death or serious harm to a person's health", 10, True, True),
    ("other", "Other incident (safeguard failure, unexpected capability)", 15, False, False),
]
