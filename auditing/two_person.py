"""Which regulator decisions need two people (issue 13, item 8): the one
definition, asked by the one-person entry points (auditing's accept-risk,
deploy's halt and sanction endpoints) and by deploy.decisions, which holds
the proposals. Here, low in the layers, so that auditing can ask it too.

``STAGEGATE_TWO_PERSON_DECISIONS`` names the kinds; unset, all three
(``DEFAULT_TWO_PERSON_DECISIONS``): ``sanction``, ``risk_acceptance`` and
``halt`` (a long halt: one that sends the release back to a lower stage; a
halt that only stops the release stays immediate, one person's)."""

from __future__ import annotations

from django.conf import settings

from core.errors import Conflict

DEFAULT_TWO_PERSON_DECISIONS = frozenset({"sanction", "risk_acceptance", "halt"})
LABELS = {"sanction": "sanction", "risk_acceptance": "risk acceptance", "halt": "long halt"}


def two_person_required(kind: str) -> bool:
    """Whether decisions of ``kind`` need a second regulator user."""
    return kind in set(getattr(settings, "STAGEGATE_TWO_PERSON_DECISIONS", DEFAULT_TWO_PERSON_DECISIONS))


def refuse_one_person(kind: str) -> None:
    """For the one-person entry points: 409 ``second_regulator_required``
    when ``kind`` needs two people."""
    if two_person_required(kind):
        raise Conflict(
            f"A {LABELS.get(kind, kind)} needs two people at the regulator: propose it "
            "(POST /api/regulator-decisions) for another regulator user to approve.",
            code="second_regulator_required",
            extra={"kind": kind},
        )
