"""Release stage and status change only through deploy.services, by the
regulator, along the table of allowed transitions, with an audit event."""

from __future__ import annotations

import pytest

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from deploy.models import Release
from deploy.services import release_halt, release_resume, release_stage_set
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


def test_the_regulator_moves_one_stage_forward_and_back_to_any_lower(world, sv):
    reg = actor(world.regulator)
    assert release_stage_set(actor=reg, system_version=sv, stage=1, reason="Auditors.").stage == 1
    with pytest.raises(Conflict) as err:
        release_stage_set(actor=reg, system_version=sv, stage=3, reason="Skip.")
    assert err.value.code == "stage_transition_not_allowed"
    with pytest.raises(Conflict):
        release_stage_set(actor=reg, system_version=sv, stage=1, reason="Same.")
    release_stage_set(actor=reg, system_version=sv, stage=2, reason="Limited.")
    release_stage_set(actor=reg, system_version=sv, stage=3, reason="Broad.")
    assert release_stage_set(actor=reg, system_version=sv, stage=0, reason="Recall.").stage == 0
    events = AuditEvent.objects.filter(action="release.stage_set", target_id=str(Release.objects.get().pk))
    assert events.count() == 4
    assert events.first().organisations.filter(pk=world.lab.pk).exists()


def test_only_the_regulator_changes_a_release(world, sv):
    for user in (world.lab_admin, world.auditor):
        with pytest.raises(Forbidden):
            release_stage_set(actor=actor(user), system_version=sv, stage=1, reason="Please.")
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


def test_a_reason_is_required_and_stage_must_exist(world, sv):
    reg = actor(world.regulator)
    with pytest.raises(InvalidInput):
        release_stage_set(actor=reg, system_version=sv, stage=1, reason=" ")
    with pytest.raises(InvalidInput):
        release_stage_set(actor=reg, system_version=sv, stage=7, reason="x")
    assert not Release.objects.exists()


def test_api(world, sv, client_for):
    reg = client_for(world.regulator)
    r = reg.post(f"/api/releases/{sv.pk}/stage", {"stage": 1, "reason": "Open."}, format="json")
    assert r.status_code == 200 and r.json()["stage"] == 1
    assert reg.post(f"/api/releases/{sv.pk}/stage", {"stage": "x"}, format="json").status_code == 400
    assert reg.post(f"/api/releases/{sv.pk}/halt", {"reason": "Stop."}, format="json").json()["status"] == "halted"
    assert reg.post(f"/api/releases/{sv.pk}/resume", {"reason": "Go."}, format="json").json()["status"] == "active"
    lab = client_for(world.lab_admin)
    assert lab.post(f"/api/releases/{sv.pk}/halt", {"reason": "x"}, format="json").status_code == 403
    other = client_for(world.other_lab_admin)
    assert other.get(f"/api/releases/{sv.pk}").status_code == 404
