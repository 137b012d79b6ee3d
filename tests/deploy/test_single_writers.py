"""The one writer of ``Release.stage`` and the one writer of
``SignOff.status`` each move only along their table of transitions."""

from __future__ import annotations

import pytest
from django.utils import timezone

from auditing.services import signoff_status_set
from core.errors import Conflict
from deploy.models import Release
from deploy.services import _release_stage_move
from tests.deploy.test_gates import at_stage_1

pytestmark = pytest.mark.django_db


def test_the_stage_writer_refuses_a_skip_and_allows_a_step(gate):
    release = Release(system_version=gate.sv, stage=0)
    with pytest.raises(Conflict) as err:
        _release_stage_move(release, 2, now=timezone.now())
    assert err.value.code == "stage_transition_not_allowed" and release.stage == 0
    _release_stage_move(release, 1, now=timezone.now())
    assert release.stage == 1 and release.stage_changed_at is not None


def test_a_consumed_signoff_is_never_voided_and_an_active_one_is(gate):
    consumed = gate.internal()[0]
    at_stage_1(gate)  # the gate consumed both lab sign-offs
    consumed.refresh_from_db()
    assert consumed.status == "consumed"
    with pytest.raises(Conflict) as err:
        signoff_status_set(signoff=consumed, status="void", now=timezone.now(), reason="late")
    assert err.value.code == "signoff_status_not_allowed"
    consumed.refresh_from_db()
    assert consumed.status == "consumed" and consumed.void_reason == ""
    active = gate.sign(gate.w.lab_reviewer, 2)
    signoff_status_set(signoff=active, status="void", now=timezone.now(), reason="withdrawn")
    active.refresh_from_db()
    assert (active.status, active.void_reason) == ("void", "withdrawn")
