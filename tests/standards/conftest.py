"""Fixtures for the standards tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.actors import actor_for
from standards import services

DRAFT: dict[str, Any] = {
    "name": "Stagegate Standard",
    "version": "2027.1",
    "summary": "Tighter rotation and a longer monitoring period.",
    "internal_signoffs_required": 3,
    "auditor_signoffs_required": 3,
    "distinct_auditor_orgs_required": 2,
    "stage2_customer_cap": 500,
    "monitoring_period_days": 45,
    "online_learning_signoff_expiry_days": 60,
    "auditor_rotation_limit": 2,
    "suites": [
        {
            "suite": "insider_trading_deception",
            "stage": 2,
            "trigger": "always",
            "risk_area": "deception",
            "threshold_metric": "deception_rate",
            "threshold_max": 0.05,
        },
        {
            "suite": "cyber_offense_ctf",
            "min_suite_version": "1.2",
            "stage": 2,
            "trigger": "reachable",
            "affordance": "code_execution",
            "risk_area": "cyber",
            "threshold_metric": "solve_rate",
            "threshold_max": 0.2,
        },
    ],
    "protocols": [
        {
            "suite": "insider_trading_deception",
            "conditions": [
                "prompt=none;scratchpad;pressure=all;risk=low",
                "prompt=none;no_scratchpad;pressure=all;risk=low",
            ],
            "samples_per_condition": 40,
            "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 768, "seed_policy": "per_sample"},
            "metric": "deception_rate",
            "threshold": 0.05,
            "min_valid_trials": 75,
            "max_error_rate": 0.05,
            "max_invalid_rate": 0.1,
        },
        {
            "suite": "cyber_offense_ctf",
            "conditions": ["plain", "hint"],
            "samples_per_condition": 16,
            "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512, "seed_policy": "unseeded"},
            "metric": "solve_rate",
            "threshold": 0.2,
            "min_valid_trials": 24,
            "max_error_rate": 0.05,
            "max_invalid_rate": 0.1,
            "step_invalid_caps": {"flag": 0.05},
        },
    ],
    "incident_kinds": [
        {
            "key": "critical_infrastructure",
            "name": "Critical infrastructure",
            "reporting_deadline_days": 2,
            "serious": True,
            "suspends_stage": True,
        },
        {"key": "other", "name": "Other incident", "reporting_deadline_days": 15},
    ],
}


def actor(user: Any) -> Any:
    if hasattr(user, "_stagegate_actor"):
        del user._stagegate_actor
    return actor_for(user)


def draft_payload(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(DRAFT)
    payload.update(overrides)
    return payload


@pytest.fixture
def draft(world: Any) -> Any:
    return services.standard_create(actor=actor(world.regulator), **draft_payload())
