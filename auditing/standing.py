"""Auditor standing: the one rule that says whether an auditor organisation (or
academic group) may act on an audit now, and if not, why.

An organisation has standing when, in this order:

1. it holds a valid certification (``not_certified``);
2. the certification's risk areas cover the risk area the action touches:
   the suite's for a run, the finding's for a finding; for a sign-off, at
   least one of those of the suites the standard requires of this system
   (its affordances included) before the stage — each signer vouches for
   its own scope, and the gate needs the counted sign-offs' scopes together
   to cover them all (``risk_areas_uncovered``) (``out_of_scope``);
3. the certification's infosec level is at least the one the standard
   requires for the stage (``infosec_level_too_low``);
4. no conflict of interest with the lab is in force: neither a declared one
   nor a relationship in the regulator's register (``conflict_of_interest``);
5. it holds an in-force assignment to the audit, when the action is on an
   audit (``not_assigned``).

Token issue, run start, sign-off submission, finding actions and incident
reports by auditors all ask ``auditor_standing`` (or ``acting_organisation``,
which picks the actor's organisation and asks it). Nothing else re-implements
these checks. The refusal codes above are what callers see (HTTP 409).

Settings (each with the default used when unset):

- ``STAGEGATE_INFOSEC_BY_STAGE``: the infosec level a stage requires when the
  standard has none of its own (``Standard.infosec_level_by_stage`` when a
  later standard carries one); default ``DEFAULT_INFOSEC_BY_STAGE``.
- ``STAGEGATE_CONFLICT_COOLING_OFF_DAYS``: how long after a registered
  relationship ends before the auditor may be assigned to the lab again
  (``Standard.conflict_cooling_off_days`` when the standard carries one);
  default 365.
- ``STAGEGATE_ACADEMIC_EMBARGO_DAYS``: how long after an audit closes before
  an assigned academic group may publish its summary
  (``Standard.academic_embargo_days`` when the standard carries one);
  default 90.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, Exists, Subquery, Value
from django.utils import timezone

from auditing.models import (
    Audit,
    AuditAssignment,
    Certification,
    ConflictOfInterest,
    InfosecLevel,
    OrganisationRelationship,
)
from core.actors import Actor
from core.errors import Conflict, Forbidden
from core.models import Organisation

# SL1 < SL2 < … < SL5: a level meets a requirement when its rank is at least the requirement's.
INFOSEC_ORDER: dict[str, int] = {level: rank for rank, level in enumerate(InfosecLevel.values, start=1)}

# What each stage requires when neither the standard nor the settings say:
# touching an unreleased system (stage 1 work) needs professional-grade
# protection; approving wider release (stages 2 and 3) needs protection
# against cybercrime groups and insiders.
DEFAULT_INFOSEC_BY_STAGE: dict[int, str] = {1: InfosecLevel.SL2, 2: InfosecLevel.SL3, 3: InfosecLevel.SL3}
DEFAULT_COOLING_OFF_DAYS = 365
DEFAULT_ACADEMIC_EMBARGO_DAYS = 90

NOT_CERTIFIED = "not_certified"
OUT_OF_SCOPE = "out_of_scope"
INFOSEC_TOO_LOW = "infosec_level_too_low"
CONFLICT_OF_INTEREST = "conflict_of_interest"
NOT_ASSIGNED = "not_assigned"


@dataclasses.dataclass(frozen=True)
class Standing:
    """The answer: ``ok``, or the refusal's code and a sentence saying why."""

    organisation_id: Any
    ok: bool
    code: str = ""
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def refusal(self, codes: dict[str, str] | None = None) -> Conflict:
        code = (codes or {}).get(self.code, self.code)
        return Conflict(self.reason, code=code, extra={"standing": self.code})


def _pk(obj: Any) -> Any:
    return getattr(obj, "pk", obj)


def _from_standard(standard: Any, field: str) -> Any:
    return getattr(standard, field, None) if standard is not None else None


def infosec_required(*, standard: Any = None, stage: int) -> str:
    """The infosec level work at (or approval of) ``stage`` requires."""
    by_stage = _from_standard(standard, "infosec_level_by_stage") or getattr(
        settings, "STAGEGATE_INFOSEC_BY_STAGE", DEFAULT_INFOSEC_BY_STAGE
    )
    level = by_stage.get(stage, by_stage.get(str(stage)))
    return str(level) if level in INFOSEC_ORDER else str(DEFAULT_INFOSEC_BY_STAGE.get(stage, InfosecLevel.SL3))


def infosec_meets(level: str, required: str) -> bool:
    return INFOSEC_ORDER.get(level, 0) >= INFOSEC_ORDER[required]


def cooling_off(standard: Any = None) -> datetime.timedelta:
    days = _from_standard(standard, "conflict_cooling_off_days")
    if days is None:
        days = getattr(settings, "STAGEGATE_CONFLICT_COOLING_OFF_DAYS", DEFAULT_COOLING_OFF_DAYS)
    return datetime.timedelta(days=int(days))


def academic_embargo(standard: Any = None) -> datetime.timedelta:
    days = _from_standard(standard, "academic_embargo_days")
    if days is None:
        days = getattr(settings, "STAGEGATE_ACADEMIC_EMBARGO_DAYS", DEFAULT_ACADEMIC_EMBARGO_DAYS)
    return datetime.timedelta(days=int(days))


def risk_areas_required(*, audit: Audit, stage: int) -> set[str]:
    """The risk areas of the suites the audit's standard requires of its
    system version before ``stage``: those required always, and those its
    declared or reachable affordances trigger (as the gate decides)."""
    from labs.selectors import system_version_affordances
    from standards.models import SuiteTrigger

    found = system_version_affordances(system_version=audit.system_version)
    contextual = {a["affordance"] for a in found["contextual"]}
    reachable = contextual | {a["affordance"] for a in found["reachable"]}
    areas: set[str] = set()
    for req in audit.standard.suite_requirements.filter(stage=stage):
        if (
            req.trigger == SuiteTrigger.ALWAYS
            or (req.trigger == SuiteTrigger.CONTEXTUAL and req.affordance_id in contextual)
            or (req.trigger == SuiteTrigger.REACHABLE and req.affordance_id in reachable)
        ):
            areas.add(req.risk_area)
    return areas


def relationship_in_force(
    *, organisation: Any, other: Any, on: datetime.date | None = None
) -> OrganisationRelationship | None:
    """A registered relationship between the two in force on ``on`` (default today)."""
    on = on or timezone.localdate()
    return (
        OrganisationRelationship.objects.between(_pk(organisation), _pk(other))
        .in_force_on(on)
        .order_by("starts_on")
        .first()
    )


def relationship_barring_assignment(
    *, organisation: Any, lab: Any, standard: Any = None, on: datetime.date | None = None
) -> OrganisationRelationship | None:
    """A registered relationship that bars assigning the organisation to the
    lab's audits: one not yet ended, or ended less than the cooling-off period
    ago (one starting in the future bars too: it is already agreed)."""
    on = on or timezone.localdate()
    since = on - cooling_off(standard)
    return (
        OrganisationRelationship.objects.between(_pk(organisation), _pk(lab))
        .exclude(ends_on__lt=since)
        .order_by("-ends_on", "starts_on")
        .first()
    )


# The facts standing rests on, as query expressions. ``organisation``,
# ``lab`` and ``audit`` are values or ``OuterRef``s, so the same expressions
# answer for one organisation (``auditor_standing``) and inside the gateway's
# per-call grant query (one row per token): the rule's inputs are read one way.
STANDING_FACTS = (
    "standing_certified_until",
    "standing_risk_areas",
    "standing_infosec_level",
    "standing_conflict_declared",
    "standing_related_kind",
    "standing_related_since",
    "standing_assigned",
)


def standing_expressions(
    *, organisation: Any, lab: Any, audit: Any = None, at: datetime.datetime, on: datetime.date
) -> dict[str, Any]:
    """Annotations that read, for ``organisation`` and ``lab`` at ``at``
    (``on``: the same day, for the register's dated entries), everything
    ``standing_decide`` needs. ``audit`` None: no assignment is read."""
    cert = Certification.objects.valid_at(at).filter(organisation_id=organisation).order_by("-issued_at")
    related = OrganisationRelationship.objects.between(organisation, lab).in_force_on(on).order_by("starts_on")
    expressions: dict[str, Any] = {
        "standing_certified_until": Subquery(cert.values("expires_at")[:1]),
        "standing_risk_areas": Subquery(cert.values("risk_areas")[:1]),
        "standing_infosec_level": Subquery(cert.values("infosec_level")[:1]),
        "standing_conflict_declared": Exists(
            ConflictOfInterest.objects.in_force().filter(organisation_id=organisation, lab_id=lab)
        ),
        "standing_related_kind": Subquery(related.values("kind")[:1]),
        "standing_related_since": Subquery(related.values("starts_on")[:1]),
        "standing_assigned": Value(None, output_field=BooleanField(null=True)),
    }
    if audit is not None:
        expressions["standing_assigned"] = Exists(
            AuditAssignment.objects.in_force().filter(organisation_id=organisation, audit_id=audit)
        )
    return expressions


def standing_decide(
    facts: Mapping[str, Any],
    *,
    organisation_id: Any,
    infosec_level_required: str,
    stage: int,
    risk_areas: Iterable[str] = (),
    any_of_risk_areas: Iterable[str] = (),
) -> Standing:
    """The rule itself, on facts read by ``standing_expressions``: the one
    place that decides standing (``auditor_standing`` and the gateway's
    per-call grant both end here). ``standing_assigned`` None: no audit."""
    if facts.get("standing_certified_until") is None:
        return Standing(organisation_id, False, NOT_CERTIFIED, "Your organisation holds no valid certification.")
    covered = set(facts.get("standing_risk_areas") or [])
    some = set(any_of_risk_areas)
    if some and not some & covered:
        return Standing(
            organisation_id,
            False,
            OUT_OF_SCOPE,
            f"Your organisation's certification covers none of {', '.join(sorted(some))} "
            f"(it covers {', '.join(sorted(covered)) or 'nothing'}).",
        )
    missing = sorted(set(risk_areas) - covered)
    if missing:
        return Standing(
            organisation_id,
            False,
            OUT_OF_SCOPE,
            f"Your organisation's certification does not cover {', '.join(missing)} "
            f"(it covers {', '.join(sorted(covered)) or 'nothing'}).",
        )
    level = str(facts.get("standing_infosec_level") or "")
    if not infosec_meets(level, infosec_level_required):
        return Standing(
            organisation_id,
            False,
            INFOSEC_TOO_LOW,
            f"Stage {stage} work requires infosec level {infosec_level_required}; your organisation is certified "
            f"at {level or 'no level'}.",
        )
    if facts.get("standing_conflict_declared"):
        return Standing(
            organisation_id,
            False,
            CONFLICT_OF_INTEREST,
            "Your organisation has a conflict of interest with this lab.",
        )
    kind = facts.get("standing_related_kind")
    if kind:
        since = facts.get("standing_related_since")
        return Standing(
            organisation_id,
            False,
            CONFLICT_OF_INTEREST,
            f"The regulator's register records a {str(kind).replace('_', ' ')} relationship between your "
            f"organisation and this lab, in force since {since:%Y-%m-%d}.",
        )
    if facts.get("standing_assigned") is False:
        return Standing(organisation_id, False, NOT_ASSIGNED, "Your organisation is not assigned to this audit.")
    return Standing(organisation_id, True)


def auditor_standing(
    *,
    organisation: Any,
    lab: Any,
    audit: Audit | None = None,
    risk_areas: Iterable[str] = (),
    any_of_risk_areas: Iterable[str] = (),
    stage: int | None = None,
    at: datetime.datetime | None = None,
) -> Standing:
    """Whether ``organisation`` may act now on ``audit`` (or, without one, on
    the lab's systems) for work in ``risk_areas`` (all of them) or in
    ``any_of_risk_areas`` (at least one) at ``stage`` (default 1: work on an
    unreleased system). See the module docstring for the rules. One query."""
    at = at or timezone.now()
    org_id = _pk(organisation)
    facts = (
        Organisation.objects.filter(pk=org_id)
        .annotate(
            **standing_expressions(
                organisation=org_id,
                lab=_pk(lab),
                audit=audit.pk if audit is not None else None,
                at=at,
                on=timezone.localdate(at),
            )
        )
        .values(*STANDING_FACTS)
        .first()
    )
    stage = stage or 1
    return standing_decide(
        facts or {},
        organisation_id=org_id,
        infosec_level_required=infosec_required(standard=audit.standard if audit is not None else None, stage=stage),
        stage=stage,
        risk_areas=risk_areas,
        any_of_risk_areas=any_of_risk_areas,
    )


def acting_organisation(
    *,
    actor: Actor,
    audit: Audit,
    roles: Iterable[str],
    risk_areas: Iterable[str] = (),
    any_of_risk_areas: Iterable[str] = (),
    stage: int | None = None,
    codes: dict[str, str] | None = None,
    forbidden: str = "Only auditors act on an audit.",
) -> uuid.UUID:
    """The actor's auditing organisation (held in one of ``roles``) that has
    standing on ``audit`` for this work: 403 ``not_an_auditor`` when the actor
    is in none, 409 with the standing's code when none of its organisations
    has standing (the refusal of the first one assigned, if any is)."""
    roles = tuple(roles)
    risk_areas, any_of_risk_areas = tuple(risk_areas), tuple(any_of_risk_areas)
    orgs = sorted((o for o in actor.auditor_org_ids if actor.has_role(o, *roles)), key=str)
    if not orgs:
        raise Forbidden(forbidden, code="not_an_auditor")
    assigned = set(
        AuditAssignment.objects.in_force()
        .filter(audit_id=audit.pk, organisation_id__in=orgs)
        .values_list("organisation_id", flat=True)
    )
    refusals: list[Standing] = []
    for org in sorted(orgs, key=lambda o: (o not in assigned, str(o))):
        found = auditor_standing(
            organisation=org,
            lab=audit.lab_id,
            audit=audit,
            risk_areas=risk_areas,
            any_of_risk_areas=any_of_risk_areas,
            stage=stage,
        )
        if found:
            return uuid.UUID(str(org))
        refusals.append(found)
    raise refusals[0].refusal(codes)


def require_standing(codes: dict[str, str] | None = None, **kwargs: Any) -> None:
    """``auditor_standing`` that raises its refusal (409) instead of answering."""
    found = auditor_standing(**kwargs)
    if not found:
        raise found.refusal(codes)


def suite_stage(*, standard: Any, suite: str) -> int:
    """The earliest stage before which ``standard`` requires ``suite`` (the
    stage whose infosec level a run of it needs); 1 for a suite it does not
    require (exploratory work on an unreleased system)."""
    stages = list(standard.suite_requirements.filter(suite=suite).values_list("stage", flat=True))
    return min(stages) if stages else 1


def risk_areas_uncovered(
    *, audit: Audit, stage: int, organisations: Iterable[Any], at: datetime.datetime | None = None
) -> set[str]:
    """The risk areas required of the audit's system before ``stage`` that no
    valid certification of ``organisations`` covers: what a gate counting
    these organisations' sign-offs is still missing (empty: covered)."""
    required = risk_areas_required(audit=audit, stage=stage)
    certs = Certification.objects.valid_at(at or timezone.now()).filter(
        organisation_id__in=[_pk(o) for o in organisations]
    )
    covered: set[str] = set()
    for areas in certs.values_list("risk_areas", flat=True):
        covered.update(areas or [])
    return required - covered
