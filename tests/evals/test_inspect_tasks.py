"""The suites as an auditor reaches them: `inspect eval stagegate/<suite>`
resolves through this package's entry point, with no database."""

from __future__ import annotations

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from evals.engine import parse_sample_id, registry, sample_id


@pytest.mark.parametrize("suite", sorted(registry()))
def test_each_suite_is_a_registered_task_by_its_stagegate_name(suite, tmp_path):
    # Nothing listens on port 9: the sample fails at its first call, after the
    # task was found by name, built and logged.
    model = get_model("stagegate/lab/system/v1", base_url="http://127.0.0.1:9/v1", api_key="x", memoize=False)
    (log,) = inspect_eval(
        f"stagegate/{suite}",
        model=model,
        limit=1,
        max_retries=0,
        timeout=5,
        log_dir=str(tmp_path),
        display="none",
        fail_on_error=False,
    )
    assert log.eval.task == suite
    assert log.eval.metadata["stagegate_suite"] == suite
    assert log.eval.metadata["content_digest"] == registry()[suite].content_digest
    (sample,) = log.samples
    assert parse_sample_id(sample.id)[0] in registry()[suite].default_conditions


def test_sample_ids_round_trip_and_refuse_what_is_not_one():
    assert parse_sample_id(sample_id("prompt=none;pressure=all", 7)) == ("prompt=none;pressure=all", 7)
    for bad in ("no-index", "#3", "cond#x", 12):
        with pytest.raises(ValueError, match="not a Stagegate sample id"):
            parse_sample_id(bad)
