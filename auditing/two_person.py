"""Which regulator decisions need two people (issue 13, item 8), and the
check that holds the rule: both here, low in the layers, so that auditing's
risk acceptance can ask it as deploy's sanction and long halt do.

``STAGEGATE_TWO_PERSON_DECISIONS`` names the kinds; unset, all three
(``DEFAULT_TWO_PERSON_DECISIONS``): ``sanction``, ``risk_acceptance`` and
``halt`` (a long halt: one that sends the release back to a lower stage; a
halt that only stops the release stays immediate, one person's).

The rule lives in the services that carry those decisions out, not at their
entry points: ``finding_accept_risk``, ``sanction_issue``, ``release_halt``
(when it sends the release back) and ``_release_send_back`` each call
``second_approval_require``, which refuses with 409
``second_regulator_required`` unless the service is handed the approved
decision that authorises exactly this act. A new entry point (a view, a
command, a task) that calls the service alone is refused too. The decisions
are deploy's (``deploy.decisions``: one regulator user proposes, another
approves, and the approval carries the decision out); deploy sits above
auditing, so it registers its decision model here
(``approval_model_register``) and this module reads the decision's row back
through that model, never trusting the object it is handed. Only
``deploy.decisions`` passes a decision to these services
(tests/test_rule_homes.py fails if other code does)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from core.actors import Actor
from core.errors import Conflict
from core.models import Membership, OrganisationKind

DEFAULT_TWO_PERSON_DECISIONS = frozenset({"sanction", "risk_acceptance", "halt"})
LABELS = {"sanction": "sanction", "risk_acceptance": "risk acceptance", "halt": "long halt"}

# The model whose approved rows authorise a two-person decision (deploy.decisions
# registers RegulatorDecision). None registered: every two-person act is refused.
_approval_models: list[type[models.Model]] = []


def two_person_required(kind: str) -> bool:
    """Whether decisions of ``kind`` need a second regulator user."""
    return kind in set(getattr(settings, "STAGEGATE_TWO_PERSON_DECISIONS", DEFAULT_TWO_PERSON_DECISIONS))


def approval_model_register(model: type[models.Model]) -> None:
    """Name the model of the decisions that authorise two-person acts (called
    once, by deploy.decisions, which holds them)."""
    if model not in _approval_models:
        _approval_models.append(model)


def _refusal(kind: str, why: str) -> Conflict:
    return Conflict(
        f"A {LABELS.get(kind, kind)} needs two people at the regulator: {why}",
        code="second_regulator_required",
        extra={"kind": kind},
    )


def _same(stored: Any, given: Any) -> bool:
    """A stored id (or stage) and the one the service acts on: UUIDs compare as text."""
    if stored is None or given is None:
        return stored is None and given is None
    return str(stored) == str(given)


def second_approval_require(*, actor: Actor, kind: str, decision: models.Model | None, **subject: Any) -> None:
    """Refuse (409 ``second_regulator_required``) a decision of ``kind`` that
    needs two people unless ``decision`` is its authority: a row of the
    registered decision model, read back (and locked) from the database,
    for this ``kind`` and exactly this ``subject`` (field name -> value,
    e.g. ``finding_id=…``), approved by a regulator user other than the
    regulator user who proposed it, carried out by that approver (``actor``),
    and not carried out before (no result yet). With the kind switched off in
    STAGEGATE_TWO_PERSON_DECISIONS one person suffices."""
    if not two_person_required(kind):
        return
    if decision is None:
        raise _refusal(
            kind, "propose it (POST /api/regulator-decisions, /portal/decisions) for another regulator user to approve."
        )
    model = type(decision)
    if model not in _approval_models or decision.pk is None:
        raise _refusal(kind, "only an approved regulator decision authorises it.")
    fields = ["kind", "status", "proposed_by_id", "decided_by_id", "result_id", *subject]
    row = model._default_manager.select_for_update().filter(pk=decision.pk).values(*fields).first()
    if row is None:
        raise _refusal(kind, "there is no such decision.")
    if row["kind"] != kind:
        raise _refusal(kind, "the decision given is not one of this kind.")
    if row["status"] != "approved" or row["decided_by_id"] is None:
        raise _refusal(kind, "the decision is not approved.")
    if row["decided_by_id"] == row["proposed_by_id"]:
        raise _refusal(kind, "the decision was approved by the regulator user who proposed it.")
    two = {row["proposed_by_id"], row["decided_by_id"]}
    regulators = Membership.objects.active().filter(user_id__in=two, organisation__kind=OrganisationKind.REGULATOR)
    if set(regulators.values_list("user_id", flat=True)) != two:
        raise _refusal(kind, "the decision's proposer and approver are not both regulator users.")
    if row["decided_by_id"] != getattr(actor.user, "pk", None):
        raise _refusal(kind, "only the regulator user who approved the decision carries it out.")
    if row["result_id"]:
        raise _refusal(kind, "the decision has already been carried out.")
    for field, value in subject.items():
        if not _same(row[field], value):
            what = field.removesuffix("_id").removeprefix("to_").replace("_", " ")
            raise _refusal(kind, f"the decision is about another {what}.")
