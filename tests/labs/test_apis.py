"""The labs HTTP API: status codes, bodies, bad input and the permission matrix."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import AuditEvent
from labs.models import ModelVersion, SystemVersion
from tests.factories import sha256
from tests.labs.conftest import CREDENTIAL, make_model_version

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def names(field: str, response: Any) -> bool:
    """The problem's errors name the field (or an item of it, "field.0")."""
    return any(key == field or key.startswith(field + ".") for key in response.json()["errors"])


def sv_url(sv: Any, suffix: str = "") -> str:
    return f"/api/system-versions/{sv.pk}{suffix}"


def mv_url(mv: Any) -> str:
    return f"/api/model-versions/{mv.pk}"


def model_version_body(lab: Any, /, **overrides: Any) -> dict[str, Any]:
    body = {
        "lab": str(lab.pk),
        "name": "aurora",
        "version": "3.0",
        "weights_digest": sha256("aurora-3.0"),
        "parameter_count": 7_000_000_000,
        "training_compute_flop": 8.2e23,
    }
    body.update(overrides)
    return body


def system_version_body(lab: Any, mv: Any, /, **overrides: Any) -> dict[str, Any]:
    body = {
        "lab": str(lab.pk),
        "model_version": str(mv.pk),
        "name": "aurora-agent",
        "affordances": ["code_execution"],
        "scaffolding": "tool loop",
        "system_prompt": "Be brief.",
        "content_filters": ["pii"],
        "online_learning": False,
        "endpoint_base_url": "https://api.aurora.example/v1",
        "endpoint_model": "aurora-agent",
        "endpoint_credential": CREDENTIAL,
    }
    body.update(overrides)
    return body


# --- affordance catalogue ----------------------------------------------------


def test_catalogue(world: Any, client_for: Any) -> None:
    response = client_for(world.auditor).get("/api/affordances")
    assert response.status_code == 200
    body = response.json()
    assert {"key": "shell", "name": "Shell", "description": "Runs commands in an operating-system shell."} in body[
        "affordances"
    ]
    assert {"source": "code_execution", "target": "shell", "rationale": "Running code can spawn a shell."} in body[
        "edges"
    ]


# --- model versions --------------------------------------------------------


def test_create_model_version(world: Any, client_for: Any) -> None:
    response = client_for(world.lab_engineer).post("/api/model-versions", model_version_body(world.lab), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    mv = ModelVersion.objects.get()
    assert body["id"] == str(mv.pk) and body["lab"] == str(world.lab.pk)
    assert body["created_by"] == "lab_engineer" and body["parameter_count"] == 7_000_000_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weights_digest": "XYZ"}, "weights_digest"),
        ({"weights_digest": "A" * 64}, "weights_digest"),
        ({"parameter_count": 0}, "parameter_count"),
        ({"parameter_count": "many"}, "parameter_count"),
        ({"training_compute_flop": "lots"}, "training_compute_flop"),
        ({"training_compute_flop": 0}, "training_compute_flop"),
        ({"lab": "not-a-uuid"}, "lab"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_create_model_version_bad_input(world: Any, client_for: Any, change: dict[str, Any], field: str) -> None:
    response = client_for(world.lab_admin).post(
        "/api/model-versions", model_version_body(world.lab, **change), format="json"
    )
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.exists()


def test_create_model_version_missing_fields(world: Any, client_for: Any) -> None:
    response = client_for(world.lab_admin).post("/api/model-versions", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "lab",
        "name",
        "version",
        "weights_digest",
        "parameter_count",
        "training_compute_flop",
    }


def test_create_model_version_non_object_body(world: Any, client_for: Any) -> None:
    response = client_for(world.lab_admin).post("/api/model-versions", ["x"], format="json")
    assert response.status_code == 400
    assert not ModelVersion.objects.exists()


def test_create_model_version_duplicate(world: Any, client_for: Any) -> None:
    c = client_for(world.lab_admin)
    assert c.post("/api/model-versions", model_version_body(world.lab), format="json").status_code == 201
    response = c.post("/api/model-versions", model_version_body(world.lab), format="json")
    assert response.status_code == 409 and response.json()["code"] == "duplicate"


@pytest.mark.parametrize(
    ("who", "lab", "status"),
    [
        ("other_lab_admin", "lab", 403),  # another lab is visible, not writable
        ("regulator", "lab", 403),
        ("auditor", "lab", 403),
        ("lab_reviewer", "lab", 403),
        ("lab_admin", "other_lab", 403),
        ("lab_admin", "customer_org", 404),  # customers are not visible to labs
        ("lab_admin", "auditor_org", 400),  # visible, but not a lab
    ],
)
def test_create_model_version_for_a_lab_one_cannot_write(
    world: Any, client_for: Any, who: str, lab: str, status: int
) -> None:
    response = client_for(getattr(world, who)).post(
        "/api/model-versions", model_version_body(getattr(world, lab)), format="json"
    )
    assert response.status_code == status
    assert not ModelVersion.objects.exists()


def test_create_model_version_for_an_unknown_lab(world: Any, client_for: Any) -> None:
    body = model_version_body(world.lab, lab="00000000-0000-0000-0000-000000000000")
    assert client_for(world.lab_admin).post("/api/model-versions", body, format="json").status_code == 404


def test_list_model_versions_paginates_and_filters(world: Any, client_for: Any) -> None:
    for n in range(3):
        make_model_version(world.lab_admin, world.lab, version=f"0.{n}")
    make_model_version(world.other_lab_admin, world.other_lab, name="borealis")
    c = client_for(world.regulator)
    page = c.get("/api/model-versions?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = c.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    filtered = c.get(f"/api/model-versions?lab={world.other_lab.pk}").json()
    assert [r["name"] for r in filtered["results"]] == ["borealis"]
    assert c.get("/api/model-versions?lab=nope").status_code == 400
    own = client_for(world.lab_reviewer).get("/api/model-versions").json()
    assert {r["lab"] for r in own["results"]} == {str(world.lab.pk)}


def test_get_and_patch_model_version(world: Any, client_for: Any, model_version: Any) -> None:
    c = client_for(world.lab_admin)
    assert c.get(mv_url(model_version)).json()["name"] == "aurora"
    response = c.patch(mv_url(model_version), {"notes": "distilled"}, format="json")
    assert response.status_code == 200 and response.json()["notes"] == "distilled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lab": "x"}, "lab"),
        ({"parameter_count": -1}, "parameter_count"),
        ({"weights_digest": "nothex"}, "weights_digest"),
        ({}, "non_field_errors"),
    ],
)
def test_patch_model_version_bad_input(
    world: Any, client_for: Any, model_version: Any, body: dict[str, Any], field: str
) -> None:
    before = ModelVersion.objects.values().get(pk=model_version.pk)
    response = client_for(world.lab_admin).patch(mv_url(model_version), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ModelVersion.objects.values().get(pk=model_version.pk) == before


def test_patch_model_version_frozen_by_an_audit(world: Any, client_for: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.auditor_org)
    response = client_for(world.lab_admin).patch(mv_url(system_version.model_version), {"notes": "x"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "model_version_immutable"


# --- system versions --------------------------------------------------------


def test_create_system_version(world: Any, client_for: Any, model_version: Any) -> None:
    response = client_for(world.lab_engineer).post(
        "/api/system-versions", system_version_body(world.lab, model_version), format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    sv = SystemVersion.objects.get()
    assert body["id"] == str(sv.pk)
    assert body["sequence"] == 1 and body["predecessor"] is None
    assert body["affordances"] == ["code_execution"]
    assert body["has_credential"] is True
    assert body["configuration_digest"] == sv.configuration_digest
    assert body["endpoint_base_url"] == "https://api.aurora.example/v1"
    assert "endpoint_credential" not in body and "endpoint_credential_ciphertext" not in body


def test_create_system_version_with_a_used_name(world: Any, client_for: Any, system_version: Any) -> None:
    body = system_version_body(world.lab, system_version.model_version, name=system_version.name)
    response = client_for(world.lab_admin).post("/api/system-versions", body, format="json")
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "duplicate" and problem["latest"] == str(system_version.pk)
    assert "/revisions" in problem["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"affordances": ["telepathy"]}, "affordances"),
        ({"affordances": "code_execution"}, "affordances"),
        ({"content_filters": [""]}, "content_filters"),
        ({"endpoint_base_url": "https://u:p@api.aurora.example/"}, "endpoint_base_url"),
        ({"endpoint_base_url": "ftp://api.aurora.example/"}, "endpoint_base_url"),
        ({"endpoint_base_url": "https://api.aurora.example/#x"}, "endpoint_base_url"),
        ({"endpoint_model": ""}, "endpoint_model"),
        ({"model_version": "00000000-0000-0000-0000-000000000000"}, "model_version"),
        ({"model_version": "nope"}, "model_version"),
        ({"online_learning": "perhaps"}, "online_learning"),
        ({"endpoint_credential": ""}, "endpoint_credential"),
        ({"lab": "nope"}, "lab"),
        ({"sequence": 5}, "sequence"),
        ({"declared_tools": ["refund"]}, "declared_tools"),  # without the tool_use affordance
        ({"declared_tools": "refund"}, "declared_tools"),
        ({"declared_tools": ["wire transfer"]}, "declared_tools"),
    ],
)
def test_create_system_version_bad_input(
    world: Any, client_for: Any, model_version: Any, change: dict[str, Any], field: str
) -> None:
    body = system_version_body(world.lab, model_version, **change)
    response = client_for(world.lab_admin).post("/api/system-versions", body, format="json")
    assert response.status_code == 400, response.content
    assert names(field, response)
    assert not SystemVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="system_version.").exists()


def test_declared_tools_are_registered_and_shown(world: Any, client_for: Any, model_version: Any) -> None:
    body = system_version_body(
        world.lab, model_version, affordances=["tool_use"], declared_tools=["refund", "lookup_order"]
    )
    response = client_for(world.lab_admin).post("/api/system-versions", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["declared_tools"] == ["lookup_order", "refund"]
    shown = client_for(world.lab_reviewer).get(f"/api/system-versions/{response.json()['id']}")
    assert shown.status_code == 200 and shown.json()["declared_tools"] == ["lookup_order", "refund"]


def test_create_system_version_with_another_labs_model(world: Any, client_for: Any, other_system_version: Any) -> None:
    # Invisible to this lab: reads as "does not exist" on the field.
    body = system_version_body(world.lab, other_system_version.model_version)
    response = client_for(world.lab_admin).post("/api/system-versions", body, format="json")
    assert response.status_code == 400 and "model_version" in response.json()["errors"]
    # The regulator sees it, but it belongs to another lab (and the regulator may not write anyway).
    mine = make_model_version(world.lab_admin, world.lab, version="7")
    body = system_version_body(world.other_lab, mine)
    response = client_for(world.other_lab_admin).post("/api/system-versions", body, format="json")
    assert response.status_code == 400 and "model_version" in response.json()["errors"]


@pytest.mark.parametrize(("who", "status"), [("regulator", 403), ("other_lab_admin", 403), ("lab_reviewer", 403)])
def test_create_system_version_refused(world: Any, client_for: Any, model_version: Any, who: str, status: int) -> None:
    # other_lab_admin cannot see the model version: it is a 400 on the field before the lab check.
    body = system_version_body(world.lab, model_version)
    response = client_for(getattr(world, who)).post("/api/system-versions", body, format="json")
    expected = 400 if who == "other_lab_admin" else status
    assert response.status_code == expected
    assert not SystemVersion.objects.exists()


def test_revise_over_http(world: Any, client_for: Any, system_version: Any) -> None:
    c = client_for(world.lab_admin)
    response = c.post(
        sv_url(system_version, "/revisions"),
        {"change_summary": "Adds shell", "affordances": ["internet_access", "tool_use", "shell"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != str(system_version.pk)
    assert body["sequence"] == 2 and body["predecessor"] == str(system_version.pk)
    assert body["affordances"] == ["internet_access", "shell", "tool_use"]
    assert body["has_credential"] is True
    # The old version still reads as before.
    old = c.get(sv_url(system_version)).json()
    assert old["affordances"] == ["internet_access", "tool_use"]
    # And revising it again is refused.
    response = c.post(sv_url(system_version, "/revisions"), {"change_summary": "x", "scaffolding": "y"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_latest"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scaffolding": "x"}, "change_summary"),
        ({"change_summary": "x", "name": "renamed"}, "name"),
        ({"change_summary": "x", "lab": "x"}, "lab"),
        ({"change_summary": "x", "affordances": ["telepathy"]}, "affordances"),
        ({"change_summary": "x", "model_version": "00000000-0000-0000-0000-000000000000"}, "model_version"),
        ({"change_summary": "x", "endpoint_base_url": "http://a@b.example"}, "endpoint_base_url"),
    ],
)
def test_revise_bad_input(world: Any, client_for: Any, system_version: Any, body: dict[str, Any], field: str) -> None:
    response = client_for(world.lab_admin).post(sv_url(system_version, "/revisions"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert SystemVersion.objects.count() == 1


def test_revise_no_change(world: Any, client_for: Any, system_version: Any) -> None:
    response = client_for(world.lab_admin).post(
        sv_url(system_version, "/revisions"),
        {"change_summary": "x", "scaffolding": system_version.scaffolding},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "no_change"
    assert SystemVersion.objects.count() == 1


def test_credential_rotation_over_http(world: Any, client_for: Any, system_version: Any) -> None:
    c = client_for(world.lab_engineer)
    response = c.post(sv_url(system_version, "/credential"), {"credential": "sk-rotated"}, format="json")
    assert response.status_code == 204 and response.content == b""
    assert SystemVersion.objects.get(pk=system_version.pk).endpoint_credential_ciphertext != (
        system_version.endpoint_credential_ciphertext
    )
    for body, field in (({}, "credential"), ({"credential": ""}, "credential"), ({"credential": "x", "y": 1}, "y")):
        response = c.post(sv_url(system_version, "/credential"), body, format="json")
        assert response.status_code == 400 and field in response.json()["errors"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_system_versions_are_not_edited_in_place(world: Any, client_for: Any, system_version: Any, method: str) -> None:
    response = getattr(client_for(world.lab_admin), method)(sv_url(system_version), {"scaffolding": "x"}, format="json")
    assert response.status_code == 405
    assert SystemVersion.objects.get(pk=system_version.pk).scaffolding == system_version.scaffolding


def test_system_version_affordances_over_http(world: Any, client_for: Any, system_version: Any) -> None:
    body = client_for(world.lab_admin).get(sv_url(system_version, "/affordances")).json()
    assert [a["affordance"] for a in body["contextual"]] == ["internet_access", "tool_use"]
    reachable = {r["affordance"]: r["path"] for r in body["reachable"]}
    assert reachable["shell"] == ["internet_access", "code_execution", "shell"]


def test_lineage_over_http(world: Any, client_for: Any, system_version: Any) -> None:
    c = client_for(world.lab_admin)
    v2 = c.post(sv_url(system_version, "/revisions"), {"change_summary": "v2", "scaffolding": "v2"}, format="json")
    body = c.get(sv_url(system_version, "/lineage")).json()
    assert body["predecessors"] == []
    assert [s["id"] for s in body["successors"]] == [v2.json()["id"]]
    assert body["successors"][0]["change_summary"] == "v2"


def test_list_system_versions_filters(
    world: Any, client_for: Any, system_version: Any, other_system_version: Any
) -> None:
    c = client_for(world.regulator)
    assert len(c.get("/api/system-versions").json()["results"]) == 2
    names = [r["name"] for r in c.get("/api/system-versions?name=borealis-agent").json()["results"]]
    assert names == ["borealis-agent"]
    by_model = c.get(f"/api/system-versions?model_version={system_version.model_version_id}").json()["results"]
    assert [r["id"] for r in by_model] == [str(system_version.pk)]
    assert c.get("/api/system-versions?model_version=bad").status_code == 400


def test_endpoint_is_hidden_from_auditors(world: Any, client_for: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.auditor_org)
    for who, shown in (("lab_reviewer", True), ("regulator", True), ("auditor", False)):
        c = client_for(getattr(world, who))
        for body in (c.get(sv_url(system_version)).json(), c.get("/api/system-versions").json()["results"][0]):
            assert ("endpoint_base_url" in body) is shown, who
            assert ("endpoint_model" in body) is shown, who
            assert body["has_credential"] is True
        raw = c.get(sv_url(system_version)).content
        assert (b"api.aurora.example" in raw) is shown


def test_list_query_count_does_not_grow_with_rows(
    world: Any, client_for: Any, system_version: Any, django_assert_max_num_queries: Any
) -> None:
    from labs import services
    from tests.labs.conftest import actor

    latest = system_version
    for n in range(5):
        latest = services.system_version_revise(
            actor=actor(world.lab_admin), system_version=latest, change_summary=str(n), scaffolding=str(n)
        )
    c = client_for(world.lab_admin)
    with django_assert_max_num_queries(6):
        response = c.get("/api/system-versions")
    assert len(response.json()["results"]) == 6


# --- permission matrix -------------------------------------------------------


def _reads(sv: Any) -> list[str]:
    return [
        sv_url(sv),
        sv_url(sv, "/affordances"),
        sv_url(sv, "/lineage"),
        mv_url(sv.model_version),
    ]


def _writes(sv: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("post", sv_url(sv, "/revisions"), {"change_summary": "x", "scaffolding": "changed"}),
        ("post", sv_url(sv, "/credential"), {"credential": "sk-x"}),
        ("patch", mv_url(sv.model_version), {"notes": "x"}),
    ]


def test_anonymous_gets_401_everywhere(api: Any, system_version: Any) -> None:
    urls = ["/api/affordances", "/api/model-versions", "/api/system-versions", *_reads(system_version)]
    for url in urls:
        response = api.get(url)
        assert response.status_code == 401, url
        assert response["Content-Type"] == PROBLEM
    for method, url, body in [
        *_writes(system_version),
        ("post", "/api/system-versions", {}),
        ("post", "/api/model-versions", {}),
    ]:
        assert getattr(api, method)(url, body, format="json").status_code == 401, url


@pytest.mark.parametrize(
    ("who", "assigned", "read", "write"),
    [
        ("lab_admin", False, 200, None),  # writes succeed: checked elsewhere
        ("lab_reviewer", False, 200, 403),
        ("other_lab_admin", False, 404, 404),
        ("regulator", False, 200, 403),
        ("auditor", True, 200, 403),  # assigned auditor: may read, not write
        ("other_auditor", True, 404, 404),  # unassigned auditor
        ("academic", False, 404, 404),
        ("customer", False, 404, 404),
        ("outsider", False, 404, 404),
    ],
)
def test_permission_matrix(
    world: Any,
    client_for: Any,
    system_version: Any,
    assign: Any,
    who: str,
    assigned: bool,
    read: int,
    write: int | None,
) -> None:
    if assigned:
        assign(system_version, world.auditor_org)
    c = client_for(getattr(world, who))
    for url in _reads(system_version):
        assert c.get(url).status_code == read, (who, url)
    listed = {r["id"] for r in c.get("/api/system-versions").json()["results"]}
    assert listed == ({str(system_version.pk)} if read == 200 else set())
    if write is None:
        return
    snapshot = (
        list(SystemVersion.objects.values().order_by("pk")),
        list(ModelVersion.objects.values().order_by("pk")),
        AuditEvent.objects.count(),
    )
    for method, url, body in _writes(system_version):
        assert getattr(c, method)(url, body, format="json").status_code == write, (who, url)
    assert snapshot == (
        list(SystemVersion.objects.values().order_by("pk")),
        list(ModelVersion.objects.values().order_by("pk")),
        AuditEvent.objects.count(),
    )


def test_unknown_ids_are_404(world: Any, client_for: Any) -> None:
    c = client_for(world.regulator)
    missing = "00000000-0000-0000-0000-000000000000"
    for url in (
        f"/api/system-versions/{missing}",
        f"/api/model-versions/{missing}",
        f"/api/system-versions/{missing}/lineage",
        f"/api/system-versions/{missing}/affordances",
    ):
        assert c.get(url).status_code == 404
    assert c.get("/api/system-versions/not-a-uuid").status_code == 404
