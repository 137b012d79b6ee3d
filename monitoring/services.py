"""Writes in monitoring: incident reports and their life (the lab's report,
the regulator's confirmation, resolution or dismissal, overdue flags), and
whistleblower reports (the regulator's key, anonymous submission, triage).

Rule 14, as decided for this service: a serious incident at stage 2 or 3
opens a re-audit, and one of a kind that ``suspends_stage`` also suspends an
active release, both in the reporting transaction, when the lab, an assigned
auditor or the regulator reports it. A customer's report, or one triaged from
a whistleblower, waits as ``open`` until the regulator confirms it; the
confirmation does the same. A release already suspended or halted is left as
it is (the re-audit still opens). Nothing here resumes a release: that is the
regulator's decision, in deploy.

Every incident change is an audit event and a transparency-log entry (ids
and digests, never the text) in the same transaction. An anonymous
whistleblower submission is neither: both carry the exact time, which the
submission must not (docs/monitoring.md)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from auditing.models import AuditAssignment
from auditing.standing import auditor_standing
from core.actors import Actor, system_actor
from core.audit import audit_event_record, snapshot
from core.canonical import digest_of, sha256_hex
from core.db import save_or_conflict
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import OrganisationKind, Role
from core.permissions import CHANGE, get_for, require, require_regulator
from core.validation import clean_text, full_clean_or_invalid
from deploy.models import ReauditSource
from deploy.services import reaudit_open, release_suspend
from gateway.models import GatewayCall
from labs.models import SystemVersion
from monitoring import hpke
from monitoring.limits import whistleblower_rate_take
from monitoring.models import (
    TRUSTED_REPORTERS,
    UNNAMED_REPORTERS,
    UNRESOLVED_INCIDENT_STATUSES,
    Incident,
    IncidentStatus,
    ReporterKind,
    WhistleblowerKey,
    WhistleblowerKeyStatus,
    WhistleblowerReport,
    WhistleblowerReportStatus,
)
from monitoring.permissions import AUDITOR_ROLES, customer_is_enrolled
from releases.models import Release, ReleaseStatus
from standards.models import IncidentKind, Stage
from standards.selectors import standard_in_force
from transparency.services import log_append

MAX_TITLE = 200
MAX_TEXT = 50_000
MAX_NOTE = 20_000
# How far ahead of the server's clock a reported time may be (client clocks drift).
CLOCK_SKEW = datetime.timedelta(minutes=5)
ESCALATING_STAGES = (Stage.LIMITED, Stage.BROAD)
SYSTEM_ACTOR = "monitoring.incident"
logger = logging.getLogger("stagegate.monitoring")
GATEWAY_REPORTER = "gateway.attestation"


# Validation


def _times(occurred_at: Any, aware_at: Any, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    errors: dict[str, list[str]] = {}
    for name, value in (("occurred_at", occurred_at), ("aware_at", aware_at)):
        if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
            errors[name] = ["A date and time with a time zone."]
        elif value > now + CLOCK_SKEW:
            errors[name] = ["Cannot be in the future."]
    if not errors and aware_at < occurred_at:
        errors["aware_at"] = ["Cannot be before occurred_at: nobody learns of an incident before it happens."]
    if errors:
        raise InvalidInput("The incident's times are not valid.", errors=errors)
    return occurred_at, aware_at


def incident_kind_in_force(key: Any) -> IncidentKind:
    """The incident kind ``key`` of the standard in force (400 on the field otherwise)."""
    standard = standard_in_force()
    kind = standard.incident_kinds.filter(key=key).first() if isinstance(key, str) else None
    if kind is None:
        keys = sorted(k.key for k in standard.incident_kinds.all())
        raise InvalidInput(
            "Unknown incident kind.",
            errors={"kind": [f"Must be one of the kinds of standard {standard.version}: {', '.join(keys)}."]},
        )
    return kind


# Who reports


def _regulator_org(actor: Actor) -> Any:
    return sorted(actor.ids_of_kind(OrganisationKind.REGULATOR), key=str)[0]


def _reporter(actor: Actor, system_version: SystemVersion) -> tuple[str, Any]:
    """(reporter kind, organisation) in which the actor reports on this system:
    its lab's members; the regulator; an auditor organisation assigned to an
    audit of it and holding standing on it (auditing.standing); a customer
    organisation enrolled (active) in its release. Refusals: 403, or 409 with
    the standing's code for an assigned auditor without standing."""
    if system_version.lab_id in actor.lab_ids:
        return ReporterKind.LAB, system_version.lab_id
    if actor.is_regulator:
        return ReporterKind.REGULATOR, _regulator_org(actor)
    auditor_orgs = [o for o in actor.auditor_org_ids if actor.has_role(o, *AUDITOR_ROLES)]
    assignments = sorted(
        AuditAssignment.objects.in_force()
        .filter(organisation_id__in=auditor_orgs, audit__system_version_id=system_version.pk)
        .select_related("audit__standard"),
        key=lambda a: (str(a.organisation_id), str(a.audit_id)),
    )
    if assignments:
        # Auditor standing, defined once (auditing.standing); academics assigned to an audit report too.
        refusals = []
        for assignment in assignments:
            standing = auditor_standing(
                organisation=assignment.organisation_id, lab=system_version.lab_id, audit=assignment.audit
            )
            if standing:
                return ReporterKind.AUDITOR, assignment.organisation_id
            refusals.append(standing)
        raise refusals[0].refusal()
    customers = sorted(
        (c for c in actor.customer_ids if actor.has_role(c, Role.CUSTOMER_MEMBER)),
        key=str,
    )
    for org in customers:
        if customer_is_enrolled(customer_ids=[org], system_version_id=system_version.pk):
            return ReporterKind.CUSTOMER, org
    raise Forbidden(
        "Incidents on a system are reported by its lab, its assigned auditors, customers enrolled in its "
        "release and the regulator.",
        code="not_a_reporter",
    )


# Records


def _lab_id(incident: Incident) -> Any:
    return SystemVersion.objects.filter(pk=incident.system_version_id).values_list("lab_id", flat=True).get()


def _record(incident: Incident, **extra: Any) -> dict[str, Any]:
    """What the log holds of an incident: ids, facts and a digest of the text
    (the text itself stays in the service). A customer reporter is not named:
    customers are private, the log is public."""
    public_reporter = incident.reporter_kind in (ReporterKind.LAB, ReporterKind.AUDITOR, ReporterKind.REGULATOR)
    return {
        "incident": str(incident.pk),
        "system_version": str(incident.system_version_id),
        "lab": str(_lab_id(incident)),
        "kind": incident.kind.key,
        "standard": str(incident.kind.standard_id),
        "serious": incident.serious,
        "reporter_kind": incident.reporter_kind,
        "reporter_organisation": str(incident.reporter_organisation_id) if public_reporter else None,
        "stage": incident.stage,
        "status": incident.status,
        "deadline_at": incident.deadline_at,
        "late": incident.late,
        "lab_report_due_at": incident.lab_report_due_at,
        "content_sha256": _content_digest(incident),
        **extra,
    }


def _content_digest(incident: Incident) -> str:
    return digest_of(
        {
            "title": incident.title,
            "description": incident.description,
            "occurred_at": incident.occurred_at.isoformat(),
            "aware_at": incident.aware_at.isoformat(),
        }
    )


def _event(actor: Actor, action: str, incident: Incident, before: dict[str, Any] | None) -> None:
    # The whistleblower report's id stays with the regulator: the lab reads
    # audit events about its organisation.
    audit_event_record(
        actor=actor,
        action=action,
        target=incident,
        before=before,
        after=snapshot(incident, exclude=["whistleblower_report"]),
        organisations=[_lab_id(incident), incident.reporter_organisation_id],
    )


def _log(kind: str, incident: Incident, **extra: Any) -> int:
    return log_append(kind=kind, subject=incident, record=_record(incident, **extra)).index


# Rule 14


def _locked_release(system_version_id: Any) -> Release | None:
    """The release row, locked, in deploy's order (system version, then release)."""
    SystemVersion.objects.select_for_update().filter(pk=system_version_id).values_list("pk", flat=True).get()
    return Release.objects.select_for_update().filter(system_version_id=system_version_id).first()


def _escalate(incident: Incident, now: datetime.datetime) -> None:
    """A serious incident at stage 2 or 3 opens a re-audit; one of a kind that
    suspends the stage also suspends an active release. Done by the service
    itself, once per incident."""
    release = _locked_release(incident.system_version_id)
    if not incident.serious or release is None or release.stage not in ESCALATING_STAGES:
        return
    actor = system_actor(SYSTEM_ACTOR)
    system_version = SystemVersion.objects.get(pk=incident.system_version_id)
    what = f"Serious incident {incident.pk} ({incident.kind.key}) at stage {release.stage}"
    if (
        incident.kind.suspends_stage
        and incident.suspended_release_at is None
        and release.status == ReleaseStatus.ACTIVE
    ):
        release_suspend(actor=actor, system_version=system_version, reason=f"{what}: suspended automatically.")
        incident.suspended_release_at = now
    if incident.reaudit_id is None:
        incident.reaudit = reaudit_open(
            actor=actor,
            system_version=system_version,
            source=ReauditSource.INCIDENT,
            reason=f"{what}: re-audit required.",
            source_ref=str(incident.pk),
        )
    incident.save(update_fields=["suspended_release_at", "reaudit", "updated_at"])


# Incidents


def _incident_create(
    *,
    actor: Actor,
    system_version: SystemVersion,
    kind: Any,
    title: Any,
    description: Any,
    occurred_at: Any,
    aware_at: Any,
    reporter_kind: str,
    reporter_organisation: Any,
    whistleblower_report: WhistleblowerReport | None = None,
) -> Incident:
    now = timezone.now()
    kind_row = incident_kind_in_force(kind)
    title = clean_text(title, "title", MAX_TITLE)
    description = clean_text(description, "description", MAX_TEXT)
    occurred_at, aware_at = _times(occurred_at, aware_at, now)
    release = _locked_release(system_version.pk)
    days = datetime.timedelta(days=kind_row.reporting_deadline_days)
    deadline = aware_at + days
    by_lab = reporter_kind == ReporterKind.LAB
    incident = Incident(
        system_version=system_version,
        kind=kind_row,
        reporter_kind=reporter_kind,
        reported_by=None if reporter_kind in UNNAMED_REPORTERS else actor.user,
        reporter_organisation_id=reporter_organisation,
        whistleblower_report=whistleblower_report,
        title=title,
        description=description,
        occurred_at=occurred_at,
        aware_at=aware_at,
        stage=release.stage if release is not None else Stage.INTERNAL,
        serious=kind_row.serious,
        deadline_at=deadline,
        late=now > deadline,
        status=IncidentStatus.OPEN,
        # The lab's report is the report itself when the lab reports; otherwise
        # the lab owes its own account, counted from when it could read this one.
        lab_report_due_at=deadline if by_lab else now + days,
        lab_reported_at=now if by_lab else None,
        lab_reported_by=actor.user if by_lab else None,
    )
    incident.created_at = now
    full_clean_or_invalid(
        incident,
        exclude=[
            "system_version",
            "kind",
            "reported_by",
            "reporter_organisation",
            "whistleblower_report",
            "lab_reported_by",
            "reaudit",
        ],
    )
    incident.save()
    incident.log_index = _log("incident.report", incident)
    incident.save(update_fields=["log_index", "updated_at"])
    if reporter_kind in TRUSTED_REPORTERS:
        _escalate(incident, now)
    _event(actor, "incident.report", incident, None)
    return incident


@transaction.atomic
def incident_report(
    *,
    actor: Actor,
    system_version: SystemVersion,
    kind: str,
    title: str,
    description: str,
    occurred_at: datetime.datetime,
    aware_at: datetime.datetime,
) -> Incident:
    """Report an incident on a system version (``kind`` is a key of the
    standard in force). The reporter kind follows from who the actor is."""
    require(actor.is_authenticated, "Sign in first.")
    reporter_kind, organisation = _reporter(actor, system_version)
    return _incident_create(
        actor=actor,
        system_version=system_version,
        kind=kind,
        title=title,
        description=description,
        occurred_at=occurred_at,
        aware_at=aware_at,
        reporter_kind=reporter_kind,
        reporter_organisation=organisation,
    )


def _locked(actor: Actor, incident: Incident) -> Incident:
    return get_for(Incident.objects.select_related("kind", "system_version"), actor, incident.pk, CHANGE, lock=True)


@transaction.atomic
def incident_lab_report(*, actor: Actor, incident: Incident, report: str) -> Incident:
    """The lab's own account of an incident someone else reported, due by
    ``lab_report_due_at``; filed once."""
    report = clean_text(report, "report", MAX_TEXT)
    incident = _locked(actor, incident)
    require(
        incident.system_version.lab_id in actor.lab_ids,
        "Only the system's lab files the lab's report.",
        code="lab_only",
    )
    if incident.lab_reported_at is not None:
        raise Conflict("The lab's report on this incident is already filed.", code="lab_report_filed")
    before = snapshot(incident, exclude=["whistleblower_report"])
    incident.lab_report = report
    incident.lab_reported_at = timezone.now()
    incident.lab_reported_by = actor.user
    incident.save(update_fields=["lab_report", "lab_reported_at", "lab_reported_by", "updated_at"])
    _log(
        "incident.lab_report",
        incident,
        lab_reported_at=incident.lab_reported_at,
        lab_report_late=incident.lab_report_late,
        lab_report_sha256=sha256_hex(report),
    )
    _event(actor, "incident.lab_report", incident, before)
    return incident


@transaction.atomic
def incident_confirm(*, actor: Actor, incident: Incident, note: str = "") -> Incident:
    """The regulator confirms an open incident. One a customer reported, or
    triaged from a whistleblower, escalates now as rule 14 says (a trusted
    reporter's escalated when it was reported)."""
    note = clean_text(note, "note", MAX_NOTE, required=False)
    incident = _locked(actor, incident)
    require_regulator(actor)
    if incident.status != IncidentStatus.OPEN:
        raise Conflict(f"The incident is {incident.status}; only an open one is confirmed.", code="incident_not_open")
    before = snapshot(incident, exclude=["whistleblower_report"])
    now = timezone.now()
    incident.status = IncidentStatus.CONFIRMED
    incident.confirmed_at = now
    incident.confirmed_by = actor.user
    incident.confirmation_note = note
    incident.save(update_fields=["status", "confirmed_at", "confirmed_by", "confirmation_note", "updated_at"])
    _log("incident.confirm", incident)
    if incident.reporter_kind not in TRUSTED_REPORTERS:
        _escalate(incident, now)
    _event(actor, "incident.confirm", incident, before)
    return incident


def _close(*, actor: Actor, incident: Incident, note: str, status: str) -> Incident:
    note = clean_text(note, "note", MAX_NOTE)
    incident = _locked(actor, incident)
    require_regulator(actor)
    if incident.status not in UNRESOLVED_INCIDENT_STATUSES:
        raise Conflict(f"The incident is already {incident.status}.", code="incident_closed")
    before = snapshot(incident, exclude=["whistleblower_report"])
    incident.status = status
    incident.resolved_at = timezone.now()
    incident.resolved_by = actor.user
    incident.resolution_note = note
    incident.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note", "updated_at"])
    verb = "resolve" if status == IncidentStatus.RESOLVED else "dismiss"
    _log(f"incident.{verb}", incident, note_sha256=sha256_hex(note))
    _event(actor, f"incident.{verb}", incident, before)
    return incident


@transaction.atomic
def incident_resolve(*, actor: Actor, incident: Incident, note: str) -> Incident:
    """The regulator resolves an open or confirmed incident, with a note. A
    suspension it caused stays until the regulator resumes the release."""
    return _close(actor=actor, incident=incident, note=note, status=IncidentStatus.RESOLVED)


@transaction.atomic
def incident_dismiss(*, actor: Actor, incident: Incident, note: str) -> Incident:
    """The regulator dismisses an incident (not an incident, or not this
    system's), with a note. It no longer counts as unresolved."""
    return _close(actor=actor, incident=incident, note=note, status=IncidentStatus.DISMISSED)


def incidents_flag_overdue(*, now: datetime.datetime | None = None, batch: int = 500) -> int:
    """Flag, once each, unresolved incidents whose lab report is past due and
    not filed; each flag is logged as ``incident.overdue``. Idempotent: a
    flagged incident is not flagged again. Returns how many were flagged."""
    now = now or timezone.now()
    actor = system_actor("monitoring.incidents_flag_overdue")
    due = list(
        Incident.objects.lab_report_overdue(now)
        .filter(overdue_flagged=False)
        .order_by("lab_report_due_at")
        .values_list("pk", flat=True)[:batch]
    )
    flagged = 0
    for pk in due:
        with transaction.atomic():
            incident = (
                Incident.objects.select_for_update(skip_locked=True)
                .select_related("kind")
                .filter(pk=pk, overdue_flagged=False)
                .first()
            )
            if incident is None or not incident.is_overdue(now):
                continue  # filed, closed or flagged meanwhile
            before = snapshot(incident, exclude=["whistleblower_report"])
            incident.overdue_flagged = True
            incident.overdue_flagged_at = now
            incident.save(update_fields=["overdue_flagged", "overdue_flagged_at", "updated_at"])
            _log("incident.overdue", incident, overdue_flagged_at=now)
            _event(actor, "incident.overdue", incident, before)
            flagged += 1
    return flagged


# Deployed as audited: the gateway's attestation check (gateway/proxy/audited.py)

# The incident kind (of the standard) each attestation outcome opens.
ATTESTATION_INCIDENT_KINDS = {
    "mismatch": "endpoint_not_as_audited",
    "malformed": "endpoint_unattested",
    "absent": "endpoint_unattested",
}
_ATTESTATION_WHAT = {
    "endpoint_not_as_audited": "claimed weights or a configuration other than the audited ones",
    "endpoint_unattested": "did not attest what served them (no Stagegate-Attestation header, or a malformed one)",
}


def attestation_incidents_open(*, now: datetime.datetime | None = None) -> int:
    """Open an incident, reported by the gateway, on each system version whose
    endpoint answered a call at stage 2 or later without attesting the audited
    weights and configuration (the access log's ``attestation``: mismatch, or
    absent and malformed): one per system version and incident kind while one
    is unresolved; after it is resolved or dismissed, only calls made since
    open another. Reads the stored access log, so a run that fails or is
    skipped loses nothing: the next one finds the same calls. Idempotent
    under concurrent runs (the system version's row is locked before the
    check). Returns how many incidents it opened."""
    now = now or timezone.now()
    standard = standard_in_force()
    in_force = set(standard.incident_kinds.values_list("key", flat=True))
    opened = 0
    for key in sorted(set(ATTESTATION_INCIDENT_KINDS.values())):
        if key not in in_force:
            logger.warning("attestation incidents: standard %s has no incident kind %s", standard.version, key)
            continue
        outcomes = [o for o, k in ATTESTATION_INCIDENT_KINDS.items() if k == key]
        gateways = Incident.objects.filter(reporter_kind=ReporterKind.GATEWAY, kind__key=key)
        last_closed = (
            gateways.filter(system_version_id=OuterRef("system_version_id"), resolved_at__isnull=False)
            .order_by("-resolved_at")
            .values("resolved_at")[:1]
        )
        found = (
            GatewayCall.objects.filter(release_stage__gte=2, attestation__in=outcomes)
            .exclude(system_version_id__in=gateways.filter(resolved_at__isnull=True).values("system_version_id"))
            .annotate(since=Subquery(last_closed))
            .filter(Q(since__isnull=True) | Q(created_at__gt=F("since")))
            .values("system_version_id")
            .annotate(first=Min("created_at"), last=Max("created_at"), calls=Count("id"))
            .order_by("system_version_id")
        )
        for row in found:
            if _attestation_incident(key=key, row=row, outcomes=outcomes, now=now):
                opened += 1
    return opened


@transaction.atomic
def _attestation_incident(*, key: str, row: Mapping[str, Any], outcomes: list[str], now: datetime.datetime) -> bool:
    system_version_id = row["system_version_id"]
    _locked_release(system_version_id)  # concurrent runs open one: the second sees the first's
    if Incident.objects.filter(
        system_version_id=system_version_id,
        reporter_kind=ReporterKind.GATEWAY,
        kind__key=key,
        resolved_at__isnull=True,
    ).exists():
        return False
    system_version = SystemVersion.objects.get(pk=system_version_id)
    first, last = min(row["first"], now), min(row["last"], now)
    _incident_create(
        actor=system_actor(GATEWAY_REPORTER),
        system_version=system_version,
        kind=key,
        title=f"The deployed endpoint of {system_version} is not attested as audited"[:MAX_TITLE],
        description=(
            f"{row['calls']} call(s) through the gateway at stage 2 or later, between {first.isoformat()} and "
            f"{last.isoformat()}, were answered by an endpoint that {_ATTESTATION_WHAT[key]} "
            f"(attestation {', '.join(outcomes)}; the calls are in the access log). The audited weights digest "
            f"and configuration digest are those of this system version."
        ),
        occurred_at=first,
        aware_at=now,
        reporter_kind=ReporterKind.GATEWAY,
        reporter_organisation=None,
    )
    return True


# Whistleblower reports


def _max_sealed_bytes() -> int:
    return hpke.padded_length(int(settings.STAGEGATE_WHISTLEBLOWER_MAX_BYTES)) + hpke.ENC_LENGTH + hpke.TAG_LENGTH


@transaction.atomic
def whistleblower_key_register(*, actor: Actor, public_key: str) -> WhistleblowerKey:
    """The regulator registers the X25519 public key reports are sealed to
    (its private key stays with the regulator: ``stagegate-sign
    whistle-keygen``). The active key before it is retired; reports sealed to
    it still open with its private key."""
    require_regulator(actor)
    try:
        key = hpke.load_public_key_b64(public_key if isinstance(public_key, str) else "")
    except hpke.SealError as e:
        raise InvalidInput("Invalid public key.", errors={"public_key": [f"{e}."]}) from None
    keyid = hpke.keyid_of(key)
    if WhistleblowerKey.objects.filter(keyid=keyid).exists():
        raise Conflict("This key is already registered.", code="key_exists")
    now = timezone.now()
    retired = list(
        WhistleblowerKey.objects.select_for_update().filter(status=WhistleblowerKeyStatus.ACTIVE).order_by("pk")
    )
    for old in retired:
        old.status = WhistleblowerKeyStatus.RETIRED
        old.retired_at = now
        old.save(update_fields=["status", "retired_at", "updated_at"])
    row = WhistleblowerKey(keyid=keyid, public_key=hpke.public_key_b64(key), registered_by=actor.user)
    full_clean_or_invalid(row, exclude=["registered_by"])
    save_or_conflict(row, Conflict("Another key was registered at the same time.", code="key_exists"))
    row.log_index = log_append(
        kind="key.whistleblower_register",
        subject=row,
        record={"keyid": keyid, "suite": hpke.SUITE_NAME, "retired": [old.keyid for old in retired]},
    ).index
    row.save(update_fields=["log_index", "updated_at"])
    audit_event_record(actor=actor, action="whistleblower_key.register", target=row, after=snapshot(row))
    return row


@sensitive_variables()
@transaction.atomic
def whistleblower_report_submit(
    *,
    system_version_id: Any = None,
    sealed: str | None = None,
    keyid: str | None = None,
    plaintext: str | None = None,
    source: str | None = None,
) -> WhistleblowerReport:
    """Accept an anonymous report: either ``sealed`` (HPKE to the active key
    ``keyid``, sealed by the whistleblower's own software; best) or
    ``plaintext``, which is sealed here at once and kept nowhere. There is no
    actor: nothing about the sender is taken or stored, and only the day is
    kept. No audit event or log entry either, since both carry the exact time.

    The flood limit (``monitoring.limits``) is taken only once the report is
    valid, just before it is stored: requests that would be refused anyway
    cannot use up the channel. ``source`` (the anonymous caller's address, ""
    when unknown) keys a counter that lives two minutes and is never stored
    with the report; None (the service's own callers, not the public
    endpoint) takes no limit."""
    if (plaintext is None) == (sealed is None):
        raise InvalidInput(
            "Send either a sealed report or a plaintext one.",
            errors={"non_field_errors": ["Exactly one of sealed (with keyid) or plaintext."]},
        )
    key = WhistleblowerKey.objects.filter(status=WhistleblowerKeyStatus.ACTIVE).first()
    if key is None:
        raise Conflict("The regulator has not registered a key; reports cannot be sealed yet.", code="no_key")
    system_version = None
    if system_version_id is not None:
        system_version = SystemVersion.objects.filter(pk=system_version_id).first()
        if system_version is None:
            raise InvalidInput("Unknown system version.", errors={"system_version": ["No such system version."]})
    sv_id = str(system_version.pk) if system_version is not None else None
    if sealed is not None:
        if keyid != key.keyid:
            raise Conflict(
                "The report is sealed to a key that is not the regulator's active key; fetch the key and seal again.",
                code="key_not_active",
                extra={"active_keyid": key.keyid},
            )
        try:
            raw = hpke.decode_sealed(sealed, max_bytes=_max_sealed_bytes())
        except hpke.SealError as e:
            raise InvalidInput("Invalid sealed report.", errors={"sealed": [f"{e}."]}) from None
    else:
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else b""
        if not data.strip() or len(data) > settings.STAGEGATE_WHISTLEBLOWER_MAX_BYTES:
            raise InvalidInput(
                "Invalid report.",
                errors={"plaintext": [f"Required, up to {settings.STAGEGATE_WHISTLEBLOWER_MAX_BYTES} bytes (UTF-8)."]},
            )
        raw = hpke.seal(data, hpke.load_public_key_b64(key.public_key), system_version_id=sv_id)
        del data
    if source is not None:
        whistleblower_rate_take(source=source)
    report = WhistleblowerReport(
        received_on=timezone.now().astimezone(datetime.UTC).date(),
        key=key,
        sealed=raw,
        sealed_sha256=sha256_hex(raw),
        system_version=system_version,
    )
    report.save(force_insert=True)
    return report


@transaction.atomic
def whistleblower_report_triage(
    *,
    actor: Actor,
    report: WhistleblowerReport,
    system_version: SystemVersion,
    kind: str,
    title: str,
    description: str,
    occurred_at: datetime.datetime,
    aware_at: datetime.datetime,
) -> Incident:
    """The regulator, having opened the report with its private key, records
    the incident it describes: reporter kind ``whistleblower``, no reporter.
    It is ``open`` until the regulator confirms it (rule 14 then applies);
    the lab owes its report as for any incident it did not report itself.
    ``title`` and ``description`` are the regulator's words: the lab reads
    them, so they should not identify the whistleblower."""
    report = _untriaged(actor, report)
    incident = _incident_create(
        actor=actor,
        system_version=system_version,
        kind=kind,
        title=title,
        description=description,
        occurred_at=occurred_at,
        aware_at=aware_at,
        reporter_kind=ReporterKind.WHISTLEBLOWER,
        reporter_organisation=None,
        whistleblower_report=report,
    )
    before = snapshot(report, exclude=["sealed"])
    report.status = WhistleblowerReportStatus.TRIAGED
    report.triaged_at = timezone.now()
    report.triaged_by = actor.user
    report.save(update_fields=["status", "triaged_at", "triaged_by"])
    audit_event_record(
        actor=actor,
        action="whistleblower_report.triage",
        target=report,
        before=before,
        after={**snapshot(report, exclude=["sealed"]), "incident": str(incident.pk)},
    )
    return incident


def _untriaged(actor: Actor, report: WhistleblowerReport) -> WhistleblowerReport:
    """The report, locked, if the regulator may still decide on it."""
    require_regulator(actor)
    report = WhistleblowerReport.objects.select_for_update().get(pk=report.pk)
    if report.status != WhistleblowerReportStatus.NEW:
        raise Conflict(f"This report has already been decided ({report.status}).", code="already_triaged")
    return report


@transaction.atomic
def whistleblower_report_set_aside(*, actor: Actor, report: WhistleblowerReport, reason: str) -> WhistleblowerReport:
    """The regulator, having opened the report, records that it describes no
    incident (junk, a duplicate of one already triaged, out of the
    standard's scope), so it leaves the queue without an incident the lab
    would read. The reason is the regulator's own note and stays with it."""
    report = _untriaged(actor, report)
    reason = clean_text(reason, "reason", 500)
    before = snapshot(report, exclude=["sealed"])
    report.status = WhistleblowerReportStatus.SET_ASIDE
    report.set_aside_reason = reason
    report.triaged_at = timezone.now()
    report.triaged_by = actor.user
    report.save(update_fields=["status", "set_aside_reason", "triaged_at", "triaged_by"])
    audit_event_record(
        actor=actor,
        action="whistleblower_report.set_aside",
        target=report,
        before=before,
        after=snapshot(report, exclude=["sealed"]),
    )
    return report
