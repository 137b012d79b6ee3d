"""Release stage and status change only through deploy.services, along the
table of allowed transitions, with an audit event and a log entry. Stages
move forward only through gates (tests/deploy/test_gates.py)."""

from __future__ import annotations

import pytest

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from deploy.models import STAGE_TRANSITIONS, Release
from deploy.services import release_halt, release_resume
from tests.auditing.conftest import actor, make_system_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def sv(world):
    return make_system_version(world.lab, world.lab_engineer)


def test_a_system_version_without_a_release_is_at_stage_0(world, sv, client_for):
    r = client_for(world.lab_admin).get(f"/api/releases/{sv.pk}")
    assert r.status_code == 200
    assert (r.json()["stage"], r.json()["status"]) == (0, "active")
    assert not Release.objects.exists()


def test_the_table_moves_forward_one_stage_and_back_to_any_lower():
    for stage, targets in STAGE_TRANSITIONS.items():
        assert {t for t in targets if t > stage} == ({stage + 1} if stage < 3 else set())
        assert {t for t in targets if t < stage} == set(range(stage))


def test_there_is_no_way_to_set_a_stage_directly(world, sv, client_for):
    r = client_for(world.regulator).post(f"/api/releases/{sv.pk}/stage", {"stage": 1, "reason": "x"}, format="json")
    assert r.status_code == 404
    assert not Release.objects.exists()


def test_only_the_regulator_halts(world, sv):
    for user in (world.lab_admin, world.auditor):
        with pytest.raises(Forbidden):
            release_halt(actor=actor(user), system_version=sv, reason="Stop.")
    assert not Release.objects.exists()


def test_halt_and_resume(world, sv):
    reg = actor(world.regulator)
    with pytest.raises(Conflict) as err:
        release_resume(actor=reg, system_version=sv, reason="Nothing to resume.")
    assert err.value.code == "cannot_resume"
    assert release_halt(actor=reg, system_version=sv, reason="Incident.").status == "halted"
    with pytest.raises(Conflict):
        release_halt(actor=reg, system_version=sv, reason="Again.")
    assert release_resume(actor=reg, system_version=sv, reason="Cleared.").status == "active"
    assert AuditEvent.objects.filter(action__in=["release.halt", "release.resume"]).count() == 2


def test_a_reason_is_required_and_the_stage_must_be_lower(world, sv):
    reg = actor(world.regulator)
    with pytest.raises(InvalidInput):
        release_halt(actor=reg, system_version=sv, reason=" ")
    with pytest.raises(InvalidInput):
        release_halt(actor=reg, system_version=sv, reason="x", to_stage=7)
    with pytest.raises(InvalidInput):
        release_halt(actor=reg, system_version=sv, reason="x", to_stage=1)
    assert not Release.objects.exists()


def test_api(world, sv, client_for):
    reg = client_for(world.regulator)
    assert reg.post(f"/api/releases/{sv.pk}/halt", {"reason": "x", "to_stage": "x"}, format="json").status_code == 400
    assert reg.post(f"/api/releases/{sv.pk}/halt", {"reason": "Stop."}, format="json").json()["status"] == "halted"
    assert reg.post(f"/api/releases/{sv.pk}/resume", {"reason": "Go."}, format="json").json()["status"] == "active"
    lab = client_for(world.lab_admin)
    assert lab.post(f"/api/releases/{sv.pk}/halt", {"reason": "x"}, format="json").status_code == 403
    other = client_for(world.other_lab_admin)
    assert other.get(f"/api/releases/{sv.pk}").status_code == 404
