"""Two people at the regulator in the portal (portal/decision_views.py): a
sanction proposed by one regulator user takes effect only when another
approves it; the proposer cannot approve (403) and may withdraw; a rejected
proposal never takes effect; bad proposals are 400s; nobody but the
regulator sees or decides. Nothing is written by a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import AuditEvent, Role
from deploy.models import RegulatorDecision, Sanction
from tests.factories import member

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    return response.content.decode()


def test_a_sanction_proposed_by_one_regulator_takes_effect_when_another_approves(login, world):
    regulator_2 = member(world.regulator_org, Role.REGULATOR_STAFF, "regulator_2")
    first = login(world.regulator)
    assert 'href="/portal/decisions"' in text(first.get("/portal/"))
    assert first.get("/portal/decisions").status_code == 200
    proposal = {"kind": "sanction", "reason": "Ignored the standard twice.", "lab": str(world.lab.pk)}
    assert first.post("/portal/decisions/propose", proposal).status_code == 302
    decision = RegulatorDecision.objects.get()
    assert decision.status == "pending" and not Sanction.objects.exists()
    # The proposer cannot approve their own: 403, nothing changes.
    r = first.post(f"/portal/decisions/{decision.pk}/approve", {"reason": "Me too."})
    assert r.status_code == 403 and "different regulator user" in text(r)
    assert not Sanction.objects.exists()
    # A second regulator approves: the sanction exists now.
    second = login(regulator_2)
    assert second.post(f"/portal/decisions/{decision.pk}/approve", {"reason": ""}).status_code == 400
    assert second.post(f"/portal/decisions/{decision.pk}/approve", {"reason": "Agreed."}).status_code == 302
    decision.refresh_from_db()
    assert decision.status == "approved" and decision.decided_by == regulator_2
    assert Sanction.objects.get().lab == world.lab
    r = second.post(f"/portal/decisions/{decision.pk}/reject", {"reason": "Too late."})
    assert r.status_code == 409


def test_a_withdrawn_proposal_never_takes_effect_and_others_cannot_see_or_decide(login, world):
    first = login(world.regulator)
    proposal = {"kind": "sanction", "reason": "r", "lab": str(world.lab.pk)}
    assert first.post("/portal/decisions/propose", proposal).status_code == 302
    decision = RegulatorDecision.objects.get()
    events = AuditEvent.objects.count()
    for user in (world.lab_admin, world.auditor, world.outsider):
        c = login(user)
        assert c.get("/portal/decisions").status_code == 403
        assert c.post("/portal/decisions/propose", proposal).status_code == 403
        assert c.post(f"/portal/decisions/{decision.pk}/approve", {"reason": "x"}).status_code == 404
    assert AuditEvent.objects.count() == events
    # Bad proposals: a sanction with no lab, a long halt with no stage.
    assert first.post("/portal/decisions/propose", {"kind": "sanction", "reason": "r"}).status_code == 400
    assert first.post("/portal/decisions/propose", {"kind": "halt", "reason": "r"}).status_code == 400
    assert RegulatorDecision.objects.count() == 1
    assert first.post(f"/portal/decisions/{decision.pk}/reject", {"reason": "Withdrawn."}).status_code == 302
    decision.refresh_from_db()
    assert decision.status == "rejected" and not Sanction.objects.exists()
