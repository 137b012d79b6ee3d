"""Model versions: who may register and correct them, and when they freeze."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from labs import services
from labs.models import ModelVersion
from tests.factories import sha256
from tests.labs.conftest import actor, make_model_version, make_system_version

pytestmark = pytest.mark.django_db

FIELDS: dict[str, Any] = {
    "name": "aurora",
    "version": "2.0",
    "weights_digest": sha256("weights-2.0"),
    "parameter_count": 1_000,
    "training_compute_flop": 1e20,
}


@pytest.mark.parametrize("who", ["lab_admin", "lab_engineer"])
def test_lab_writers_register_model_versions(world: Any, who: str) -> None:
    user = getattr(world, who)
    mv = services.model_version_create(actor=actor(user), lab=world.lab, notes="base model", **FIELDS)
    mv.refresh_from_db()
    assert (mv.lab, mv.name, mv.version, mv.created_by) == (world.lab, "aurora", "2.0", user)
    event = AuditEvent.objects.get(action="model_version.create", target_id=str(mv.pk))
    assert event.actor == user
    assert event.after["weights_digest"] == FIELDS["weights_digest"]
    assert list(event.organisations.all()) == [world.lab]


@pytest.mark.parametrize("who", ["lab_reviewer", "other_lab_admin", "regulator", "auditor", "academic", "customer"])
def test_others_may_not_register_for_the_lab(world: Any, who: str) -> None:
    with pytest.raises(Forbidden):
        services.model_version_create(actor=actor(getattr(world, who)), lab=world.lab, **FIELDS)
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.filter(action="model_version.create").exists()


@pytest.mark.parametrize("org", ["auditor_org", "customer_org", "regulator_org"])
def test_only_labs_have_model_versions(world: Any, org: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.model_version_create(actor=actor(world.lab_admin), lab=getattr(world, org), **FIELDS)
    assert "lab" in exc.value.errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weights_digest", "A" * 64),  # uppercase
        ("weights_digest", "a" * 63),
        ("weights_digest", "g" * 64),
        ("weights_digest", "sha256:" + "a" * 64),
        ("parameter_count", 0),
        ("parameter_count", -5),
        ("training_compute_flop", 0.0),
        ("training_compute_flop", float("inf")),
        ("training_compute_flop", float("nan")),
        ("name", "   "),
        ("version", ""),
    ],
)
def test_bad_values_are_refused_and_nothing_written(world: Any, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.model_version_create(actor=actor(world.lab_admin), lab=world.lab, **{**FIELDS, field: value})
    assert field in exc.value.errors
    assert not ModelVersion.objects.exists()


def test_name_and_version_are_unique_per_lab(world: Any) -> None:
    services.model_version_create(actor=actor(world.lab_admin), lab=world.lab, **FIELDS)
    with pytest.raises(Conflict) as exc:
        services.model_version_create(
            actor=actor(world.lab_engineer), lab=world.lab, **{**FIELDS, "weights_digest": sha256("other")}
        )
    assert exc.value.code == "duplicate"
    # Another version number, or the same name in another lab, is fine.
    services.model_version_create(actor=actor(world.lab_admin), lab=world.lab, **{**FIELDS, "version": "2.1"})
    services.model_version_create(actor=actor(world.other_lab_admin), lab=world.other_lab, **FIELDS)
    assert ModelVersion.objects.count() == 3


# --- update -----------------------------------------------------------------


def test_lab_writer_corrects_a_model_version(world: Any, model_version: Any) -> None:
    mv = services.model_version_update(
        actor=actor(world.lab_engineer), model_version=model_version, notes="fixed", parameter_count=42
    )
    mv.refresh_from_db()
    assert (mv.notes, mv.parameter_count) == ("fixed", 42)
    event = AuditEvent.objects.get(action="model_version.update")
    assert event.before["parameter_count"] == 70_000_000_000 and event.after["parameter_count"] == 42


def test_an_unchanged_update_writes_no_event(world: Any, model_version: Any) -> None:
    services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, notes="")
    assert not AuditEvent.objects.filter(action="model_version.update").exists()


def test_update_scoping(world: Any, model_version: Any) -> None:
    with pytest.raises(NotFound):  # cannot see it
        services.model_version_update(actor=actor(world.other_lab_admin), model_version=model_version, notes="x")
    with pytest.raises(NotFound):
        services.model_version_update(actor=actor(world.auditor), model_version=model_version, notes="x")
    with pytest.raises(Forbidden):  # sees it, may not change it
        services.model_version_update(actor=actor(world.regulator), model_version=model_version, notes="x")
    with pytest.raises(Forbidden):
        services.model_version_update(actor=actor(world.lab_reviewer), model_version=model_version, notes="x")
    model_version.refresh_from_db()
    assert model_version.notes == ""


def test_update_refuses_unknown_and_fixed_fields(world: Any, model_version: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, lab=world.other_lab)
    assert "lab" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, weights_digest="x")
    assert "weights_digest" in exc.value.errors


def test_update_to_a_duplicate_name_is_a_conflict(world: Any, model_version: Any) -> None:
    make_model_version(world.lab_admin, world.lab, version="2.0")
    with pytest.raises(Conflict) as exc:
        services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, version="2.0")
    assert exc.value.code == "duplicate"


def test_defining_fields_freeze_once_a_system_uses_the_model(world: Any, model_version: Any) -> None:
    services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, version="1.0.1")
    make_system_version(world.lab_admin, world.lab, model_version)
    for change in ({"version": "1.0.2"}, {"name": "renamed"}, {"weights_digest": sha256("x")}):
        with pytest.raises(Conflict) as exc:
            services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, **change)
        assert exc.value.code == "model_version_in_use"
    # Descriptive fields may still be corrected until an audit references it.
    services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, notes="ok")


def test_model_version_is_immutable_once_an_audit_references_a_system_of_it(
    world: Any, model_version: Any, assign: Any
) -> None:
    first = make_system_version(world.lab_admin, world.lab, model_version)
    services.system_version_revise(
        actor=actor(world.lab_admin),
        system_version=first,
        change_summary="more tools",
        affordances=["internet_access", "tool_use", "code_execution"],
    )
    assign(first, world.auditor_org)  # an audit of the older version is enough
    with pytest.raises(Conflict) as exc:
        services.model_version_update(actor=actor(world.lab_admin), model_version=model_version, notes="late")
    assert exc.value.code == "model_version_immutable"
    model_version.refresh_from_db()
    assert model_version.notes == ""
