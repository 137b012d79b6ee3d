"""What the pages make of a checklist: met/unmet in words, evidence links only
into this service, and each required suite's run state. Pure functions."""

from __future__ import annotations

from portal.presenters import changes_display, checklist_display, stage_label, suites_display

SV = "11111111-1111-1111-1111-111111111111"
OLDER = "22222222-2222-2222-2222-222222222222"


def run(system_version: str) -> dict:
    return {"kind": "eval_run", "id": "r" * 36, "url": "/api/eval-runs/r", "system_version": system_version}


CHECKLIST = {
    "from_stage": 1,
    "to_stage": 2,
    "passed": False,
    "standard": {"version": "2026.1"},
    "evaluated_at": "2026-01-01T00:00:00+00:00",
    "changes": {
        "predecessor": {"id": OLDER, "sequence": 1, "url": f"/api/system-versions/{OLDER}"},
        "weights": False,
        "system_prompt": False,
        "scaffolding": False,
        "content_filters": False,
        "online_learning": False,
        "contextual_added": ["web_browsing"],
        "contextual_removed": [],
        "reachable_added": ["code_execution"],
    },
    "items": [
        {"code": "suite:a", "title": "Suite a", "met": True, "detail": "ok", "evidence": [run(SV)]},
        {"code": "suite:b", "title": "Suite b", "met": True, "detail": "carried", "evidence": [run(OLDER)]},
        {"code": "suite:c", "title": "Suite c", "met": False, "detail": "no completed run", "evidence": []},
        {
            "code": "auditor_signoffs",
            "title": "Signed approvals",
            "met": False,
            "detail": "1 valid approval",
            "evidence": [
                {"kind": "signoff", "id": "s" * 36, "url": "javascript:alert(1)", "counts": False, "why_not": "expired"}
            ],
        },
    ],
}


def test_the_checklist_counts_and_marks_each_item():
    shown = checklist_display(CHECKLIST)
    assert shown is not None
    assert (shown["passed"], shown["met_count"], shown["unmet_count"]) == (False, 2, 2)
    assert shown["to_stage_label"] == "Stage 2: limited release to vetted customers"
    signoff = shown["items"][3]["evidence"][0]
    # A link that does not point into this service is shown as text, not followed.
    assert signoff["url"] is None
    assert ("counts", "no") in signoff["facts"] and ("why not", "expired") in signoff["facts"]
    assert shown["items"][0]["evidence"][0]["url"] == "/api/eval-runs/r"
    assert checklist_display(None) is None


def test_each_suite_is_run_here_carried_over_or_owed():
    states = {row["suite"]: row["state"] for row in suites_display(CHECKLIST, SV)}
    assert states == {
        "a": "run on this version",
        "b": "carried over from an earlier version",
        "c": "must be run on this version",
    }
    first = {**CHECKLIST, "changes": None}
    assert {row["suite"]: row["state"] for row in suites_display(first, SV)}["c"] == "must be run"


def test_changes_name_what_differs():
    shown = changes_display(CHECKLIST["changes"])
    assert shown is not None
    assert shown["predecessor_id"] == OLDER and shown["any_whole_system"] is False
    assert shown["contextual_added"] == ["web_browsing"] and shown["reachable_added"] == ["code_execution"]
    assert changes_display(None) is None
    assert stage_label(3) == "Stage 3: broad rollout" and stage_label("x") == "Stage x"


def test_a_suite_shows_the_evidence_pooled_under_its_protocol():
    pooled = {
        "runs": 2,
        "running": 0,
        "samples": 96,
        "errors": 1,
        "error_reasons": {"upstream kept failing: 502": 1},
        "metric": {
            "count": 0,
            "of": 90,
            "rate": 0.0,
            "design_effect": 1.0,
            "effective_trials": 90.0,
            "upper95": 0.0409,
        },
        "steps": {},
    }
    protocol = {"kind": "protocol", "suite": "a", "digest": "d" * 64, "url": "/api/standards/s", "pooled": pooled}
    item = {
        "code": "suite:a",
        "title": "Suite a",
        "met": True,
        "detail": "ok",
        "evidence": [protocol, run(SV), run(OLDER)],
    }
    (row,) = suites_display({**CHECKLIST, "items": [item]}, SV)
    assert row["state"] == "1 run(s) on this version, 1 carried over"
    assert row["pooled"] == "2 protocol run(s), 96 sample(s), 1 error(s): 0/90 valid trials, 95% upper bound 0.041"
    facts = dict(row["evidence"][0]["facts"])
    assert facts["pooled"] == row["pooled"]
    protocol["reasons"] = ["needs 40 valid trials for deception_rate, has 3", "upper bound 0.561 > threshold 0.1"]
    (row,) = suites_display({**CHECKLIST, "items": [item]}, SV)
    assert dict(row["evidence"][0]["facts"])["reasons"] == (
        "needs 40 valid trials for deception_rate, has 3; upper bound 0.561 > threshold 0.1"
    )
    empty = {**pooled, "runs": 0, "samples": 0, "errors": 0, "metric": {"count": 0, "of": 0, "upper95": 1.0}}
    item["evidence"] = [{**protocol, "pooled": empty}]
    (row,) = suites_display({**CHECKLIST, "items": [item]}, SV)
    assert row["pooled"] == "0 protocol run(s), 0 sample(s), 0 error(s): no valid trials"


def test_evidence_with_a_portal_page_links_to_it_and_keeps_the_json():
    import uuid

    from portal.presenters import evidence_display

    run_id = uuid.uuid4()
    shown = evidence_display({"kind": "eval_run", "id": str(run_id), "url": f"/api/eval-runs/{run_id}"})
    assert shown["page_url"] == f"/portal/runs/{run_id}" and shown["url"] == f"/api/eval-runs/{run_id}"
    finding = evidence_display({"kind": "finding", "id": str(run_id)})
    assert finding["page_url"] == f"/portal/findings/{run_id}"
    assert evidence_display({"kind": "signoff", "id": str(run_id)})["page_url"] == f"/portal/signoffs/{run_id}"
    assert (
        evidence_display({"kind": "sanction", "id": str(run_id)})["page_url"] == f"/portal/sanctions#sanction-{run_id}"
    )
    # Evidence that names its object only in its API address.
    release = evidence_display({"kind": "release", "url": f"/api/releases/{run_id}"})
    assert release["page_url"] == f"/portal/releases/{run_id}"
    assert evidence_display({"kind": "protocol", "url": f"/api/standards/{run_id}"})["page_url"] == (
        f"/portal/standards/{run_id}"
    )
    # A log index opens the portal's entry page.
    signed = evidence_display({"kind": "signoff", "id": str(run_id), "log_index": 7})
    assert signed["log_url"] == "/portal/log/7" and "log index" not in dict(signed["facts"])
    # No page for other kinds, nor for an id that is not a UUID (nothing is built from arbitrary text).
    assert evidence_display({"kind": "other", "id": str(run_id)})["page_url"] is None
    assert evidence_display({"kind": "finding", "id": "../../admin"})["page_url"] is None
    assert evidence_display({"kind": "release", "url": "/api/releases/../../admin"})["page_url"] is None
    assert evidence_display({"kind": "signoff", "log_index": "7; rm"})["log_url"] is None


def test_a_checklist_item_for_a_smoke_test_suite_says_so():
    from evals.engine import registry
    from portal.presenters import item_display

    for name, definition in registry().items():
        shown = item_display({"code": f"suite:{name}", "title": name, "met": True})
        assert shown["smoke_test"] is (definition.maturity == "smoke_test")
    assert item_display({"code": "findings", "title": "x"})["smoke_test"] is False
