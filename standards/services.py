"""Writes on standards: the regulator drafts a standard and publishes it. A
published standard is never edited; a new version supersedes it."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from core.actors import Actor
from core.audit import audit_event_record, snapshot
from core.db import save_or_conflict
from core.errors import Conflict, InvalidInput
from core.permissions import CHANGE, get_for, require_regulator
from labs.models import Affordance
from standards.digest import GATE_FIELDS
from standards.models import (
    IncidentKind,
    RiskArea,
    Stage,
    Standard,
    StandardStatus,
    SuiteRequirement,
    SuiteTrigger,
)
from standards.protocols import Protocol, protocol_document, protocol_errors
from standards.selectors import standard_content_digest

# Every gate is a count or a number of days; none can be switched off with 0.
GATE_MINIMUM = 1


def _raise_invalid(error: ValidationError, *, prefix: str = "", detail: str = "The standard is not valid.") -> None:
    errors = error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
    named = {
        (f"{prefix}{k}" if k != "__all__" else (prefix.rstrip(".") or "non_field_errors")): list(v)
        for k, v in errors.items()
    }
    raise InvalidInput(detail, errors=named)


def _full_clean(obj: models.Model, *, prefix: str = "", exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as e:
        _raise_invalid(e, prefix=prefix)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_gates(gates: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in GATE_FIELDS:
        value = gates[name]
        if not _is_int(value) or value < GATE_MINIMUM:
            errors[name] = [f"Must be a whole number of at least {GATE_MINIMUM}."]
    distinct, signoffs = gates["distinct_auditor_orgs_required"], gates["auditor_signoffs_required"]
    if (
        "distinct_auditor_orgs_required" not in errors
        and "auditor_signoffs_required" not in errors
        and distinct > signoffs
    ):
        errors["distinct_auditor_orgs_required"] = ["Cannot exceed auditor_signoffs_required."]
    return errors


def _validate_suites(suites: list[dict[str, Any]], known_affordances: set[str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    seen: set[tuple[Any, ...]] = set()
    for i, suite in enumerate(suites):

        def bad(field: str, message: str, i: int = i) -> None:
            errors.setdefault(f"suites.{i}.{field}", []).append(message)

        if not isinstance(suite, dict):
            errors[f"suites.{i}"] = ["Must be an object."]
            continue
        name = suite.get("suite")
        if not isinstance(name, str) or not name.strip():
            bad("suite", "This field is required.")
        stage = suite.get("stage")
        if not _is_int(stage) or stage not in (Stage.AUDITORS, Stage.LIMITED, Stage.BROAD):
            bad("stage", "Must be 1, 2 or 3 (the stage the suite must pass before).")
        trigger = suite.get("trigger", SuiteTrigger.ALWAYS)
        affordance = suite.get("affordance") or None
        if affordance is not None and not isinstance(affordance, str):
            bad("affordance", "Must be an affordance key.")
            affordance = None
        if trigger not in SuiteTrigger.values:
            bad("trigger", f"Must be one of: {', '.join(SuiteTrigger.values)}.")
        elif trigger == SuiteTrigger.ALWAYS and affordance is not None:
            bad("affordance", "A suite required always names no affordance.")
        elif trigger != SuiteTrigger.ALWAYS and affordance is None:
            bad("affordance", f"Required when the trigger is {trigger!r}.")
        if affordance is not None and affordance not in known_affordances:
            bad("affordance", f"Unknown affordance {affordance!r}.")
        if suite.get("risk_area") not in RiskArea.values:
            bad("risk_area", f"Must be one of: {', '.join(RiskArea.values)}.")
        metric = suite.get("threshold_metric")
        if not isinstance(metric, str) or not metric.strip():
            bad("threshold_metric", "This field is required.")
        threshold = suite.get("threshold_max")
        if (
            not isinstance(threshold, int | float)
            or isinstance(threshold, bool)
            or not math.isfinite(threshold)
            or not 0 <= threshold <= 1
        ):
            bad("threshold_max", "Must be a number between 0 and 1.")
        if any(k.startswith(f"suites.{i}.") for k in errors):
            continue
        key = (name, stage, trigger, affordance, metric)
        if key in seen:
            bad("suite", "Listed twice with the same stage, trigger, affordance and metric.")
        seen.add(key)
    return errors


def _validate_incident_kinds(kinds: list[dict[str, Any]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for i, kind in enumerate(kinds):

        def bad(field: str, message: str, i: int = i) -> None:
            errors.setdefault(f"incident_kinds.{i}.{field}", []).append(message)

        if not isinstance(kind, dict):
            errors[f"incident_kinds.{i}"] = ["Must be an object."]
            continue
        key = kind.get("key")
        if not isinstance(key, str) or not key.strip():
            bad("key", "This field is required.")
        elif key in seen:
            bad("key", "Listed twice.")
        else:
            seen.add(key)
        name = kind.get("name")
        if not isinstance(name, str) or not name.strip():
            bad("name", "This field is required.")
        days = kind.get("reporting_deadline_days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            bad("reporting_deadline_days", "Must be a whole number of days, at least 1.")
        for flag in ("serious", "suspends_stage"):
            if not isinstance(kind.get(flag, False), bool):
                bad(flag, "Must be true or false.")
    return errors


def suite_catalogue() -> dict[str, dict[str, Any]] | None:
    """The suites this service can run ({name: {"conditions", "metrics"}}). The
    evals app sits above standards, so its provider is named in settings
    (STAGEGATE_SUITE_CATALOGUE) rather than imported."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    provider = getattr(settings, "STAGEGATE_SUITE_CATALOGUE", "")
    return import_string(provider)() if provider else None


def _validate_protocols(protocols: list[Any], errors: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """Valid protocols by suite; what is wrong goes into ``errors``."""
    catalogue = suite_catalogue()
    by_suite: dict[str, dict[str, Any]] = {}
    for i, doc in enumerate(protocols):
        found = protocol_errors(doc, catalogue=catalogue)
        for name, messages in found.items():
            errors.setdefault(f"protocols.{i}.{name}", []).extend(messages)
        if found:
            continue
        if doc["suite"] in by_suite:
            errors.setdefault(f"protocols.{i}.suite", []).append("One protocol per suite.")
            continue
        by_suite[doc["suite"]] = doc
    return by_suite


def _check_requirements_have_protocols(
    suites: list[Any], by_suite: dict[str, dict[str, Any]], errors: dict[str, list[str]]
) -> None:
    for i, s in enumerate(suites):
        if not isinstance(s, dict) or any(k.startswith(f"suites.{i}.") for k in errors):
            continue
        doc = by_suite.get(s.get("suite"))  # type: ignore[arg-type]
        if doc is None:
            errors.setdefault(f"suites.{i}.suite", []).append(
                "A required suite needs a protocol (protocols: how it must be run for its results to count)."
            )
        elif (s.get("threshold_metric"), float(s.get("threshold_max", -1))) != (doc["metric"], float(doc["threshold"])):
            errors.setdefault(f"suites.{i}.threshold_metric", []).append(
                f"Must be the protocol's gated metric and threshold ({doc['metric']} ≤ {doc['threshold']:g})."
            )


@transaction.atomic
def standard_create(
    *,
    actor: Actor,
    name: str,
    version: str,
    summary: str = "",
    internal_signoffs_required: int = 2,
    auditor_signoffs_required: int = 2,
    distinct_auditor_orgs_required: int = 2,
    stage2_customer_cap: int = 1000,
    monitoring_period_days: int = 30,
    online_learning_signoff_expiry_days: int = 90,
    auditor_rotation_limit: int = 3,
    suites: list[dict[str, Any]],
    incident_kinds: list[dict[str, Any]],
    protocols: list[dict[str, Any]] | None = None,
) -> Standard:
    """A draft standard with its suite requirements and incident kinds.

    Each suite is a dict with ``suite``, ``stage``, ``trigger``, ``affordance``
    (an affordance key, only for triggered suites), ``risk_area``,
    ``threshold_metric``, ``threshold_max`` and optionally ``min_suite_version``;
    each incident kind has ``key``, ``name``, ``reporting_deadline_days``,
    ``serious`` and ``suspends_stage``. Every required suite needs one of
    ``protocols`` (standards/protocols.py), whose metric and threshold its
    requirements repeat."""
    require_regulator(actor)
    gates = {
        "internal_signoffs_required": internal_signoffs_required,
        "auditor_signoffs_required": auditor_signoffs_required,
        "distinct_auditor_orgs_required": distinct_auditor_orgs_required,
        "stage2_customer_cap": stage2_customer_cap,
        "monitoring_period_days": monitoring_period_days,
        "online_learning_signoff_expiry_days": online_learning_signoff_expiry_days,
        "auditor_rotation_limit": auditor_rotation_limit,
    }
    errors = _validate_gates(gates)
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field is required."]
    if not isinstance(version, str) or not version.strip():
        errors["version"] = ["This field is required."]
    elif Standard.objects.filter(version=version).exists():
        errors["version"] = ["A standard with this version exists."]
    if not isinstance(suites, list):
        errors["suites"] = ["Must be a list."]
    else:
        wanted = {s["affordance"] for s in suites if isinstance(s, dict) and isinstance(s.get("affordance"), str)}
        known = set(Affordance.objects.filter(key__in=wanted).values_list("key", flat=True))
        errors.update(_validate_suites(suites, known))
    protocols = [] if protocols is None else protocols
    by_suite: dict[str, dict[str, Any]] = {}
    if not isinstance(protocols, list):
        errors["protocols"] = ["Must be a list."]
    else:
        by_suite = _validate_protocols(protocols, errors)
        if isinstance(suites, list):
            _check_requirements_have_protocols(suites, by_suite, errors)
    if not isinstance(incident_kinds, list):
        errors["incident_kinds"] = ["Must be a list."]
    else:
        errors.update(_validate_incident_kinds(incident_kinds))
    if errors:
        raise InvalidInput("The standard is not valid.", errors=errors)

    standard = Standard(
        name=name.strip(),
        version=version.strip(),
        summary=summary,
        status=StandardStatus.DRAFT,
        protocols={suite: protocol_document(doc) for suite, doc in by_suite.items()},
        **gates,
    )
    _full_clean(standard)
    standard.save()
    for i, s in enumerate(suites):
        requirement = SuiteRequirement(
            standard=standard,
            suite=s["suite"].strip(),
            min_suite_version=s.get("min_suite_version") or "",
            stage=s["stage"],
            trigger=s.get("trigger", SuiteTrigger.ALWAYS),
            affordance_id=s.get("affordance") or None,
            risk_area=s["risk_area"],
            threshold_metric=s["threshold_metric"].strip(),
            threshold_max=float(s["threshold_max"]),
            gates=bool(s.get("gates", True)),
        )
        _full_clean(requirement, prefix=f"suites.{i}.", exclude=["standard", "affordance"])
        requirement.save()
    for i, k in enumerate(incident_kinds):
        kind = IncidentKind(
            standard=standard,
            key=k["key"].strip(),
            name=k["name"].strip(),
            reporting_deadline_days=k["reporting_deadline_days"],
            serious=k.get("serious", False),
            suspends_stage=k.get("suspends_stage", False),
        )
        _full_clean(kind, prefix=f"incident_kinds.{i}.", exclude=["standard"])
        kind.save()
    audit_event_record(
        actor=actor,
        action="standard.create",
        target=standard,
        after={
            **snapshot(standard, exclude=["protocols"]),
            "suites": len(suites),
            "incident_kinds": len(incident_kinds),
            "protocols": {suite: Protocol.from_document(doc).digest for suite, doc in standard.protocols.items()},
        },
    )
    return standard


@transaction.atomic
def standard_publish(*, actor: Actor, standard: Standard) -> Standard:
    """Put a draft in force. The standard in force until now is superseded, and
    the draft's content digest is fixed."""
    require_regulator(actor)
    standard = get_for(Standard.objects.all(), actor, standard.pk, CHANGE, lock=True)
    if standard.status != StandardStatus.DRAFT:
        raise Conflict(
            "Only a draft standard can be published; a published one is never edited.", code="standard_not_draft"
        )
    now = timezone.now()
    for previous in Standard.objects.select_for_update().filter(status=StandardStatus.IN_FORCE):
        before = snapshot(previous)
        previous.status = StandardStatus.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])
        audit_event_record(
            actor=actor, action="standard.supersede", target=previous, before=before, after=snapshot(previous)
        )
    before = snapshot(standard)
    standard.status = StandardStatus.IN_FORCE
    standard.in_force_from = now
    standard.published_by = actor.user
    standard.content_digest = standard_content_digest(standard=standard)
    _full_clean(standard, exclude=["status"])  # the single-in-force constraint is enforced by the database below
    save_or_conflict(  # another draft published at the same moment may win
        standard,
        Conflict("Another standard was published concurrently; try again.", code="standard_publish_race"),
        update_fields=["status", "in_force_from", "published_by", "content_digest", "updated_at"],
    )
    audit_event_record(actor=actor, action="standard.publish", target=standard, before=before, after=snapshot(standard))
    return standard
