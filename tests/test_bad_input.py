"""Bad input to any write endpoint gets a 4xx problem response and writes
nothing: wrong types, nulls, wrong shapes, unknown ids and oversized strings,
sent by a caller who is allowed to write there."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.apps import apps
from rest_framework.test import APIClient

from tests.test_permission_matrix import MATRIX, build_scene

WRITES = [(m, r) for (m, r), row in MATRIX.items() if m in ("POST", "PATCH") and row.body is not None]

GARBAGE = {
    "list": [1, 2, 3],
    "string": "not an object",
    "nulls": None,  # every field of a valid body set to null
    "wrong_types": "wrong_types",  # every field of a valid body given a value of another type
    "unknown_ids": "unknown_ids",  # every uuid-looking value replaced by a random uuid
    "huge": "huge",  # every string 100,000 characters long
}


def _mutate(body: dict, how: str):
    if how == "nulls":
        return dict.fromkeys(body)
    if how == "wrong_types":
        return {k: ({"x": 1} if isinstance(v, str) else "x" * 3) for k, v in body.items()}
    if how == "unknown_ids":

        def swap(v):
            try:
                uuid.UUID(str(v))
                return str(uuid.uuid4())
            except ValueError:
                return v

        return {k: swap(v) for k, v in body.items()}
    if how == "huge":
        return {k: ("y" * 100_000 if isinstance(v, str) else v) for k, v in body.items()}
    return GARBAGE[how]


def _row_counts() -> dict[str, int]:
    labels = [
        m._meta.label
        for app in (
            "core",
            "labs",
            "standards",
            "auditing",
            "transparency",
            "gateway",
            "deploy",
            "evals",
            "customers",
            "monitoring",
        )
        for m in apps.get_app_config(app).get_models()
    ]
    return {label: apps.get_model(label).objects.count() for label in labels}


# Bodies that name other objects by id (the only ones "unknown_ids" can change).
NAMES_IDS = {
    ("POST", "memberships"),
    ("POST", "model-versions"),
    ("POST", "system-versions"),
    ("POST", "certifications"),
    ("POST", "conflicts"),
    ("POST", "audits"),
    ("POST", "audits/<uuid:pk>/assignments"),
    ("POST", "findings"),
    ("POST", "findings/<uuid:pk>/retest"),
    ("POST", "eval-runs"),
    ("POST", "releases/<uuid:system_version_pk>/enrolments"),
    # monitoring
    ("POST", "incidents"),
    ("POST", "whistleblower/reports"),
    ("POST", "whistleblower/reports/<uuid:pk>/triage"),
}
CASES = [(m, r, how) for (m, r) in WRITES for how in GARBAGE if how != "unknown_ids" or (m, r) in NAMES_IDS]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "route", "how"), CASES, ids=[f"{m} {r} {h}" for m, r, h in CASES])
def test_bad_input_is_a_4xx_and_writes_nothing(method, route, how):
    scene = build_scene()
    row = MATRIX[(method, route)]
    role = sorted(row.expect.ok_roles)[0]
    path = "/api/" + route
    for name, value in row.args(scene).items():
        path = re.sub(rf"<\w+:{name}>", str(value), path)
    body = _mutate(row.body(scene), how)
    assert body != row.body(scene)
    client = APIClient()
    client.force_authenticate(user=getattr(scene.w, role))
    before = _row_counts()
    response = client.generic(method, path, data=json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, (
        f"{method} {path} ({how}): {response.status_code} {response.content[:300]!r}"
    )
    assert response.json()["status"] == response.status_code
    assert _row_counts() == before
