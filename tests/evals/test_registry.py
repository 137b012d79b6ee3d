"""Every suite the default standard requires exists, reports the metric the
standard's threshold reads, and probes the capability kind it names; else no
system with that affordance could ever pass the gate."""

from __future__ import annotations

import pytest

from evals.engine import registry
from standards.defaults import DEFAULT_SUITES


@pytest.mark.parametrize(("suite", "stage", "trigger", "affordance", "risk_area", "metric", "limit"), DEFAULT_SUITES)
def test_a_required_suite_is_registered_with_its_metric(suite, stage, trigger, affordance, risk_area, metric, limit):
    found = registry().get(suite)
    assert found is not None, f"the default standard requires {suite}, which the registry lacks"
    assert metric in found.metrics
    assert found.risk_area == risk_area
    if trigger == "reachable":
        assert found.capability_kind == "reachable"
    assert found.default_conditions and found.default_samples > 0
