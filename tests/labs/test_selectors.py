"""Reads: scoping, reachable affordances of a system version, lineage."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import NotFound
from labs import selectors, services
from labs.catalogue import AFFORDANCES, EDGES
from tests.labs.conftest import actor, make_model_version, make_system_version

pytestmark = pytest.mark.django_db


def test_catalogue_matches_the_shipped_catalogue(db: Any) -> None:
    catalogue = selectors.affordance_catalogue()
    assert [a["key"] for a in catalogue["affordances"]] == sorted(k for k, _, _ in AFFORDANCES)
    assert {(e["source_id"], e["target_id"]) for e in catalogue["edges"]} == {(s, t) for s, t, _ in EDGES}


def test_lab_sees_its_own_versions_only(world: Any, system_version: Any, other_system_version: Any) -> None:
    for who in ("lab_admin", "lab_engineer", "lab_reviewer"):
        a = actor(getattr(world, who))
        assert list(selectors.system_version_list(actor=a)) == [system_version]
        assert list(selectors.model_version_list(actor=a)) == [system_version.model_version]
        with pytest.raises(NotFound):
            selectors.system_version_get(actor=a, pk=other_system_version.pk)
        with pytest.raises(NotFound):
            selectors.model_version_get(actor=a, pk=other_system_version.model_version_id)


def test_regulator_sees_everything(world: Any, system_version: Any, other_system_version: Any) -> None:
    a = actor(world.regulator)
    assert set(selectors.system_version_list(actor=a)) == {system_version, other_system_version}
    assert selectors.model_version_get(actor=a, pk=other_system_version.model_version_id)


def test_assigned_auditor_sees_the_audited_version_and_its_model(
    world: Any, system_version: Any, other_system_version: Any, assign: Any
) -> None:
    v2 = services.system_version_revise(
        actor=actor(world.lab_admin), system_version=system_version, change_summary="v2", scaffolding="v2"
    )
    unused = make_model_version(world.lab_admin, world.lab, version="9")
    assign(system_version, world.auditor_org)
    a = actor(world.auditor)
    assert list(selectors.system_version_list(actor=a)) == [system_version]
    assert list(selectors.model_version_list(actor=a)) == [system_version.model_version]
    for hidden in (v2, other_system_version):
        with pytest.raises(NotFound):
            selectors.system_version_get(actor=a, pk=hidden.pk)
    with pytest.raises(NotFound):
        selectors.model_version_get(actor=a, pk=unused.pk)
    # Another auditor organisation, not assigned, sees nothing.
    assert not selectors.system_version_list(actor=actor(world.other_auditor)).exists()
    assert not selectors.model_version_list(actor=actor(world.other_auditor)).exists()


def test_assigned_academic_group_sees_the_version(world: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.academic_org)
    assert list(selectors.system_version_list(actor=actor(world.academic))) == [system_version]


def test_ended_assignment_sees_nothing(world: Any, system_version: Any, assign: Any) -> None:
    assign(system_version, world.auditor_org, ended=True)
    assert not selectors.system_version_list(actor=actor(world.auditor)).exists()
    with pytest.raises(NotFound):
        selectors.system_version_get(actor=actor(world.auditor), pk=system_version.pk)


def test_customer_and_outsider_see_nothing(world: Any, system_version: Any) -> None:
    for who in ("customer", "outsider"):
        assert not selectors.system_version_list(actor=actor(getattr(world, who))).exists()
        assert not selectors.model_version_list(actor=actor(getattr(world, who))).exists()


def test_list_filters(world: Any, system_version: Any, other_system_version: Any) -> None:
    a = actor(world.regulator)
    assert list(selectors.system_version_list(actor=a, lab_id=world.other_lab.pk)) == [other_system_version]
    assert list(selectors.system_version_list(actor=a, name="aurora-chat")) == [system_version]
    assert list(selectors.system_version_list(actor=a, model_version_id=other_system_version.model_version_id)) == [
        other_system_version
    ]
    assert list(selectors.model_version_list(actor=a, lab_id=world.lab.pk)) == [system_version.model_version]


def test_system_version_affordances(world: Any, model_version: Any) -> None:
    sv = make_system_version(world.lab_admin, world.lab, model_version, affordances=["code_execution", "retrieval"])
    result = selectors.system_version_affordances(system_version=sv)
    assert result["contextual"] == [
        {"affordance": "code_execution", "name": "Code execution"},
        {"affordance": "retrieval", "name": "Retrieval"},
    ]
    assert result["reachable"] == [
        {"affordance": "file_system", "name": "File system", "path": ["code_execution", "shell", "file_system"]},
        {"affordance": "shell", "name": "Shell", "path": ["code_execution", "shell"]},
    ]


def test_no_affordances_reach_nothing(world: Any, model_version: Any) -> None:
    sv = make_system_version(world.lab_admin, world.lab, model_version, affordances=[])
    assert selectors.system_version_affordances(system_version=sv) == {"contextual": [], "reachable": []}


def test_lineage(world: Any, system_version: Any, assign: Any) -> None:
    a = actor(world.lab_admin)
    v2 = services.system_version_revise(actor=a, system_version=system_version, change_summary="2", scaffolding="2")
    v3 = services.system_version_revise(actor=a, system_version=v2, change_summary="3", scaffolding="3")
    # Another system of the same lab is not part of this lineage.
    make_system_version(world.lab_admin, world.lab, system_version.model_version, name="other-system")
    assert selectors.system_version_lineage(actor=a, system_version=v2) == {
        "predecessors": [system_version],
        "successors": [v3],
    }
    assert selectors.system_version_lineage(actor=a, system_version=system_version) == {
        "predecessors": [],
        "successors": [v2, v3],
    }
    assert selectors.system_version_lineage(actor=a, system_version=v3) == {
        "predecessors": [system_version, v2],
        "successors": [],
    }
    # An auditor assigned to v2 only does not learn about the other versions.
    assign(v2, world.auditor_org)
    assert selectors.system_version_lineage(actor=actor(world.auditor), system_version=v2) == {
        "predecessors": [],
        "successors": [],
    }
