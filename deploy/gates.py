"""Gate evaluation: for a requested stage transition, the standard in force's
requirements (MISSION rules 9–15), each met or not, why, and links to the
evidence. A read: nothing here writes.

The checklist is plain JSON so that it can be shown before anyone asks,
returned with a refusal, stored with a gate request and digested into the
transparency log."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from auditing.models import Audit, AuditStatus, FindingSeverity, SignOff, SignOffDecision, SignOffStatus
from auditing.selectors import findings_open_for, system_version_ancestry
from auditing.services import signoff_validity
from auditing.standing import auditor_standing, risk_areas_required, risk_areas_uncovered
from core.canonical import canonical_json
from core.models import Role
from deploy.models import (
    STAGE_TRANSITIONS,
    GateRequest,
    GateRequestStatus,
    Reaudit,
    Release,
    ReleaseStatus,
    Sanction,
    SanctionLevel,
)
from evals.engine import registry
from evals.evidence import SuiteEvidence, suite_evidence
from labs.models import SystemVersion
from labs.selectors import system_version_affordances
from standards.models import Stage, Standard, SuiteRequirement, SuiteTrigger
from standards.selectors import standard_in_force

BLOCKING_SEVERITIES = (FindingSeverity.HIGH, FindingSeverity.CRITICAL)


@dataclass
class Item:
    code: str
    title: str
    met: bool
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    # Whether the item decides the gate. One that does not (a suite the
    # standard requires as reported only) never blocks the transition, and its
    # ``met`` (whether its own evidence would pass) is never counted as passed.
    gates: bool = True
    # Further keys of the item's JSON (a suite's maturity and outcome).
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "met": self.met,
            "detail": self.detail,
            "evidence": self.evidence,
            **self.extra,
        }


def _api(path: str) -> str:
    return f"/api/{path}"


def _iso(when: datetime.datetime | None) -> str | None:
    return when.isoformat() if when else None


# --- what changed since the previous version (re-audit triggers) -------------


def _affordance_sets(sv: SystemVersion) -> tuple[set[str], set[str]]:
    found = system_version_affordances(system_version=sv)
    contextual = {a["affordance"] for a in found["contextual"]}
    return contextual, contextual | {a["affordance"] for a in found["reachable"]}


def changes_since_predecessor(
    sv: SystemVersion, affordances: tuple[set[str], set[str]] | None = None
) -> dict[str, Any] | None:
    """What differs from the previous version of the system, or None for a first
    version. Weights, prompt, scaffolding, content filters, declared tools or
    online learning change what the model does everywhere; affordances change
    what it can reach."""
    prev = sv.predecessor
    if prev is None:
        return None
    contextual, reachable = affordances or _affordance_sets(sv)
    prev_contextual, prev_reachable = _affordance_sets(prev)
    return {
        "predecessor": {"id": str(prev.pk), "sequence": prev.sequence, "url": _api(f"system-versions/{prev.pk}")},
        "weights": sv.model_version.weights_digest != prev.model_version.weights_digest,
        "system_prompt": sv.system_prompt_digest != prev.system_prompt_digest,
        "scaffolding": sv.scaffolding != prev.scaffolding,
        "content_filters": sv.content_filters != prev.content_filters,
        "declared_tools": sorted(sv.declared_tools or []) != sorted(prev.declared_tools or []),
        "online_learning": sv.online_learning != prev.online_learning,
        "contextual_added": sorted(contextual - prev_contextual),
        "contextual_removed": sorted(prev_contextual - contextual),
        "reachable_added": sorted(reachable - prev_reachable),
    }


# The tools a system offers its model change what it does in every
# conversation, like its prompt: a change of them re-runs every suite.
WHOLE_SYSTEM_CHANGES = (
    "weights",
    "system_prompt",
    "scaffolding",
    "content_filters",
    "declared_tools",
    "online_learning",
)


def _applicable(req: SuiteRequirement, contextual: set[str], reachable: set[str]) -> str | None:
    """Why the requirement applies to a system with these affordances, or None."""
    if req.trigger == SuiteTrigger.ALWAYS:
        return "required for every system"
    if req.trigger == SuiteTrigger.CONTEXTUAL and req.affordance_id in contextual:
        return f"the system has {req.affordance_id}"
    if req.trigger == SuiteTrigger.REACHABLE and req.affordance_id in reachable:
        how = "has" if req.affordance_id in contextual else "can reach"
        return f"the system {how} {req.affordance_id}"
    return None


def rerun_reason(req: SuiteRequirement, changes: dict[str, Any] | None) -> str | None:
    """Why this suite's results from the previous version cannot carry over to
    this one, or None when they can. A first version runs everything."""
    if changes is None:
        return "first version of the system"
    whole = [name.replace("_", " ") for name in WHOLE_SYSTEM_CHANGES if changes[name]]
    if whole:
        return f"changed since v{changes['predecessor']['sequence']}: {', '.join(whole)}"
    if req.affordance_id and req.affordance_id in changes["contextual_added"]:
        return f"newly declared affordance {req.affordance_id}"
    if req.affordance_id and req.affordance_id in changes["reachable_added"]:
        return f"newly reachable affordance {req.affordance_id}"
    return None


# --- the checklist ----------------------------------------------------------


@dataclass
class Context:
    sv: SystemVersion
    release: Release
    standard: Standard
    from_stage: int
    to_stage: int
    now: datetime.datetime
    changes: dict[str, Any] | None
    affordances: tuple[set[str], set[str]]  # contextual, and those plus the reachable ones
    # The stage-2 approval, for "afresh" at stage 3: evidence must postdate it.
    fresh_since: datetime.datetime | None = None
    counted_signoffs: list[str] = field(default_factory=list)
    suite_evidence: list[tuple[SuiteRequirement, str, str | None, SuiteEvidence]] | None = None
    reaudits_met: list[tuple[str, str]] = field(default_factory=list)
    # Per audit: the risk areas its standard requires of the system before the stage.
    risk_areas: dict[Any, set[str]] = field(default_factory=dict)


def _release_state(ctx: Context) -> list[Item]:
    items = [
        Item(
            "release_active",
            "The release is active",
            ctx.release.status == ReleaseStatus.ACTIVE,
            "active"
            if ctx.release.status == ReleaseStatus.ACTIVE
            else f"The release is {ctx.release.status}: {ctx.release.reason or 'no reason given'}",
            [{"kind": "release", "url": _api(f"releases/{ctx.sv.pk}")}],
        )
    ]
    suspensions = list(
        Sanction.objects.in_force().filter(lab_id=ctx.sv.lab_id, level=SanctionLevel.SUSPENSION).order_by("created_at")
    )
    items.append(
        Item(
            "no_advancement_suspension",
            "The lab's stage advancement is not suspended by a sanction",
            not suspensions,
            "no suspension in force"
            if not suspensions
            else f"{len(suspensions)} suspension sanction(s) in force until the regulator lifts them",
            [{"kind": "sanction", "id": str(s.pk), "url": _api(f"sanctions/{s.pk}")} for s in suspensions],
        )
    )
    return items


def _reaudits(ctx: Context) -> list[Item]:
    items = []
    for reaudit in Reaudit.objects.open().filter(system_version=ctx.sv).order_by("created_at"):
        audit = (
            Audit.objects.filter(
                system_version=ctx.sv,
                status=AuditStatus.CLOSED,
                created_at__gt=reaudit.created_at,
            )
            .order_by("closed_at")
            .first()
        )
        evidence = [{"kind": "reaudit", "id": str(reaudit.pk), "url": _api(f"reaudits/{reaudit.pk}")}]
        if audit is not None:
            evidence.append({"kind": "audit", "id": str(audit.pk), "url": _api(f"audits/{audit.pk}")})
            ctx.reaudits_met.append((str(reaudit.pk), str(audit.pk)))
        items.append(
            Item(
                f"reaudit:{reaudit.pk}",
                f"Re-audit required ({reaudit.get_origin_display().lower()}) is done",
                audit is not None,
                f"done: audit closed {_iso(audit.closed_at)}"
                if audit is not None
                else f"owed since {_iso(reaudit.created_at)}: {reaudit.reason} — an audit of this version opened "
                "after it must be closed",
                evidence,
            )
        )
    return items


def _signoff_problem(ctx: Context, signoff: SignOff, *, auditor: bool) -> str | None:
    """Why the sign-off does not count for this gate, or None when it does."""
    ok, why = signoff_validity(signoff=signoff, now=ctx.now, suites=_bound_suites(ctx))
    if not ok:
        return why
    expiry = ctx.standard.online_learning_expiry(since=signoff.issued_at, online_learning=ctx.sv.online_learning)
    if expiry is not None and expiry <= ctx.now:
        return "expired (online-learning window)"
    if ctx.fresh_since is not None and signoff.issued_at < ctx.fresh_since:
        return "not fresh (issued before the previous stage opened)"
    if auditor:
        audit = signoff.audit
        if audit is None or audit.system_version_id != ctx.sv.pk:
            return "not signed on an audit of this version"
        # The one standing rule (auditing/standing.py), as at submission:
        # certified now for at least one risk area the stage requires, at the
        # stage's infosec level, not conflicted (declared or registered),
        # still assigned. What the counted signers leave uncovered together
        # is the gate's own item (``auditor_scope``).
        found = auditor_standing(
            organisation=signoff.organisation_id,
            lab=ctx.sv.lab_id,
            audit=audit,
            any_of_risk_areas=_risk_areas(ctx, audit),
            stage=ctx.to_stage,
            at=ctx.now,
        )
        if not found:
            return found.reason
    return None


def _risk_areas(ctx: Context, audit: Audit) -> set[str]:
    if audit.pk not in ctx.risk_areas:
        ctx.risk_areas[audit.pk] = risk_areas_required(audit=audit, stage=ctx.to_stage)
    return ctx.risk_areas[audit.pk]


def _scope(ctx: Context, approvals: list[SignOff]) -> Item:
    """Whether the counted approvals' certifications together cover every
    risk area the standard requires of this system before the stage."""
    audits = {s.audit_id: s.audit for s in approvals if s.audit is not None}
    required: set[str] = set()
    uncovered: set[str] = set()
    for audit in audits.values():
        required |= _risk_areas(ctx, audit)
        uncovered |= risk_areas_uncovered(
            audit=audit, stage=ctx.to_stage, organisations={s.organisation_id for s in approvals}, at=ctx.now
        )
    if not audits:
        detail = "no counted approval yet"
    elif uncovered:
        detail = (
            f"the counted organisations' certifications do not cover {', '.join(sorted(uncovered))} "
            f"(the stage requires {', '.join(sorted(required))})"
        )
    else:
        detail = f"covered: {', '.join(sorted(required)) or 'no risk area is required'}"
    return Item(
        "auditor_scope",
        "The approving auditors' certifications together cover every required risk area",
        bool(audits) and not uncovered,
        detail,
    )


def _signoff_evidence(signoff: SignOff, problem: str | None) -> dict[str, Any]:
    return {
        "kind": "signoff",
        "id": str(signoff.pk),
        "url": _api(f"signoffs/{signoff.pk}"),
        "signer": signoff.signer.get_username(),
        "organisation": signoff.organisation.name,
        "decision": signoff.decision,
        "issued_at": _iso(signoff.issued_at),
        "log_index": signoff.log_index,
        "counts": problem is None,
        "why_not": problem,
    }


def _signoffs(ctx: Context, *, auditor: bool) -> list[Item]:
    qs = (
        SignOff.objects.filter(system_version=ctx.sv, stage=ctx.to_stage, status=SignOffStatus.ACTIVE)
        .select_related("signer", "organisation", "audit", "system_version__model_version")
        .order_by("issued_at")
    )
    if auditor:
        qs = qs.filter(audit__isnull=False)
    else:
        qs = qs.filter(audit__isnull=True, role=Role.LAB_REVIEWER, organisation_id=ctx.sv.lab_id)
    counting: list[SignOff] = []
    rejecting: list[SignOff] = []
    evidence = []
    for signoff in qs:
        problem = _signoff_problem(ctx, signoff, auditor=auditor)
        evidence.append(_signoff_evidence(signoff, problem))
        if problem is None:
            (counting if signoff.decision == SignOffDecision.APPROVE else rejecting).append(signoff)
    approvals = counting
    if auditor:
        needed = ctx.standard.auditor_signoffs_required
        orgs_needed = ctx.standard.distinct_auditor_orgs_required
        orgs = {s.organisation_id for s in approvals}
        met = len(approvals) >= needed and len(orgs) >= orgs_needed
        detail = (
            f"{len(approvals)} valid approval(s) from {len(orgs)} organisation(s); the standard needs {needed} "
            f"from at least {orgs_needed} distinct certified, assigned, conflict-free auditor organisations"
        )
        title = f"Signed approvals from ≥ {orgs_needed} auditor organisations, bound to this version's digests"
        code = "auditor_signoffs"
    else:
        needed = ctx.standard.internal_signoffs_required
        signers = {s.signer_id for s in approvals}
        met = len(signers) >= needed
        detail = f"{len(signers)} distinct lab reviewer(s) signed; the standard needs {needed}"
        title = f"≥ {needed} lab-internal sign-offs from distinct reviewers"
        code = "internal_signoffs"
    if met:
        ctx.counted_signoffs.extend(str(s.pk) for s in approvals)
    items = [Item(code, title, met, detail, evidence)]
    if auditor:
        items.append(_scope(ctx, approvals))
    items.append(
        Item(
            f"{code}_no_rejection",
            "No valid signed rejection",
            not rejecting,
            "none" if not rejecting else f"{len(rejecting)} valid signed rejection(s) stand against this stage",
            [e for e in evidence if e["decision"] == SignOffDecision.REJECT and e["counts"]],
        )
    )
    return items


def _findings(ctx: Context) -> Item:
    blocking = list(findings_open_for(system_version=ctx.sv).filter(severity__in=BLOCKING_SEVERITIES))
    return Item(
        "no_blocking_findings",
        "No open finding of severity high or critical",
        not blocking,
        "none open"
        if not blocking
        else f"{len(blocking)} open: " + "; ".join(f"{f.severity}: {f.title}" for f in blocking),
        [
            {
                "kind": "finding",
                "id": str(f.pk),
                "url": _api(f"findings/{f.pk}"),
                "severity": f.severity,
                "status": f.status,
                "filed_on": str(f.system_version_id),
                "log_index": f.log_index,
            }
            for f in blocking
        ],
    )


def _evidence_since(ctx: Context) -> datetime.datetime | None:
    """The start of the freshness window: evidence from before the previous
    stage opened is not fresh at stage 3, and a system that learns online
    needs evidence from within the standard's window."""
    starts = [ctx.fresh_since]
    if ctx.sv.online_learning:
        starts.append(ctx.now - ctx.standard.online_learning_window)
    return max((s for s in starts if s is not None), default=None)


def _required_suites(ctx: Context) -> list[tuple[SuiteRequirement, str, str | None, SuiteEvidence]]:
    """Each requirement that applies to this system at the stage: why it
    applies, why results cannot carry over (or None), and the evidence from
    every run that counts. Computed once per context."""
    if ctx.suite_evidence is not None:
        return ctx.suite_evidence
    contextual, reachable = ctx.affordances
    found: list[tuple[SuiteRequirement, str, str | None, SuiteEvidence]] = []
    since = _evidence_since(ctx)
    for req in ctx.standard.suite_requirements.filter(stage=ctx.to_stage).order_by("suite", "id"):
        why = _applicable(req, contextual, reachable)
        if why is None:
            continue
        rerun = rerun_reason(req, ctx.changes)
        # Results carry over from earlier versions only when nothing that
        # affects this suite changed (a delta re-audit).
        sv_ids: list[Any] = [ctx.sv.pk]
        if rerun is None:
            sv_ids = list(system_version_ancestry(system_version=ctx.sv).values_list("pk", flat=True))
        evidence = suite_evidence(
            suite=req.suite, protocol=ctx.standard.protocol_for(req.suite), system_version_ids=sv_ids, since=since
        )
        found.append((req, why, rerun, evidence))
    ctx.suite_evidence = found
    return found


def _bound_suites(ctx: Context) -> list[dict[str, Any]]:
    """The evidence a sign-off binds: that of the suites that gate. A suite
    reported only is not bound, so a new run of it cannot make a sign-off
    stale (which would let it block the gate after all)."""
    return [evidence.bound() for req, _, _, evidence in _required_suites(ctx) if req.gates]


def _suite_detail(found: SuiteEvidence) -> str:
    evidence, protocol = found.evidence, found.protocol
    if evidence is None or protocol is None or evidence.runs == 0:
        return "; ".join(found.reasons)
    m = evidence.metric
    rate = f"{m.events}/{m.trials}" if m.trials else "no valid trials"
    clustered = f", design effect {m.design_effect:.2f} for repeated items" if m.design_effect > 1 else ""
    pooled = (
        f"{protocol.metric} {rate} (95% upper bound {m.upper:.3f}{clustered}, threshold {protocol.threshold:g}) "
        f"pooled over {evidence.runs} protocol run(s), {evidence.samples} sample(s), {evidence.errors} error(s)"
    )
    return pooled if found.met else f"{pooled} — " + "; ".join(found.reasons)


SMOKE_TEST = "reported, smoke test — does not gate"
REPORTED_ONLY = "reported only — does not gate"


def _maturity(suite: str) -> str:
    definition = registry().get(suite)
    return definition.maturity if definition is not None else "unknown"


def _suites(ctx: Context) -> list[Item]:
    """One item per required suite. A requirement the standard publishes as
    reported only (``gates`` false: a smoke test) is shown with its evidence
    and verdict, labelled as not gating: it never blocks, and never counts as
    passed. Each item names the suite's maturity, for the portal to label."""
    items = []
    for req, why, rerun, found in _required_suites(ctx):
        maturity = _maturity(req.suite)
        title = f"Suite {req.suite}: {req.threshold_metric} upper bound ≤ {req.threshold_max:g} under the protocol"
        detail = _suite_detail(found)
        if not req.gates:
            label = SMOKE_TEST if maturity == "smoke_test" else REPORTED_ONLY
            title = f"Suite {req.suite} ({label}): {req.threshold_metric} upper bound ≤ {req.threshold_max:g}"
            verdict = "would pass" if found.met else "would not pass"
            detail = f"{label}; its evidence {verdict}: {detail}"
        since = _evidence_since(ctx)
        if not found.runs and since is not None:
            detail += f" (runs finished since {_iso(since)} count)"
        detail += f"; required because {why}"
        carried = sorted({r.system_version.sequence for r in found.runs if r.system_version_id != ctx.sv.pk})
        if carried:
            detail += (
                f"; includes runs carried over from v{', v'.join(map(str, carried))} (nothing affecting it changed)"
            )
        if rerun is not None and ctx.changes is not None:
            detail += f"; must be run on this version: {rerun}"
        evidence_list: list[dict[str, Any]] = [
            {
                "kind": "eval_run",
                "id": str(run.pk),
                "url": _api(f"eval-runs/{run.pk}"),
                "suite_version": run.suite.version,
                "suite_digest": run.suite.content_digest,
                "results_digest": run.results_digest,
                "system_version": str(run.system_version_id),
                "status": run.status,
                "finished_at": _iso(run.finished_at),
            }
            for run in found.runs
        ]
        if found.protocol is not None:
            evidence_list.insert(
                0,
                {
                    "kind": "protocol",
                    "suite": req.suite,
                    "digest": found.protocol.digest,
                    "url": _api(f"standards/{ctx.standard.pk}"),
                    "pooled": found.evidence.as_dict() if found.evidence else None,
                    "reasons": found.reasons,
                },
            )
        outcome = ("met" if found.met else "unmet") if req.gates else "reported"
        items.append(
            Item(
                f"suite:{req.suite}",
                title,
                found.met,
                detail,
                evidence_list,
                gates=req.gates,
                extra={"gates": req.gates, "maturity": maturity, "outcome": outcome},
            )
        )
    return items


def _monitoring(ctx: Context) -> list[Item]:
    period = datetime.timedelta(days=ctx.standard.monitoring_period_days)
    since = ctx.release.stage_changed_at
    ends = since + period if since else None
    elapsed = ends is not None and ends <= ctx.now
    items = [
        Item(
            "monitoring_period",
            f"At least {ctx.standard.monitoring_period_days} days of monitoring at stage 2",
            elapsed,
            f"stage 2 since {_iso(since)}; the period ends {_iso(ends)}" if since else "no stage-2 start recorded",
        )
    ]
    items += _upper_items(ctx)
    return items


# --- items an app above deploy decides ----------------------------------------
# Some items rest on the facts of an app above deploy: "no unresolved serious
# incident" on monitoring's incidents. Deploy does not read them; the app that
# owns the facts defines the item's check and registers it here from its
# AppConfig.ready() (monitoring/apps.py -> monitoring.gates), an import from
# above that lint-imports sees. An item a stage requires that no app has
# registered is unmet: the gate fails closed rather than skip it.
UPPER_ITEMS: dict[int, tuple[str, ...]] = {Stage.BROAD: ("no_unresolved_serious_incident",)}
UpperCheck = Callable[["Context"], "Item"]
_upper_checks: dict[str, UpperCheck] = {}


def gate_item_register(*, code: str, check: UpperCheck) -> None:
    """Register the check that decides the item ``code`` (one of UPPER_ITEMS)."""
    if not any(code in codes for codes in UPPER_ITEMS.values()):
        raise ValueError(f"no stage requires a gate item {code!r}")
    _upper_checks[code] = check


def _upper_items(ctx: Context) -> list[Item]:
    items = []
    for code in UPPER_ITEMS.get(ctx.to_stage, ()):
        check = _upper_checks.get(code)
        if check is None:
            items.append(Item(code, code, False, "not checked: the app that decides this item is not installed"))
        else:
            items.append(check(ctx))
    return items


def _stage_entered(release: Release, stage: int) -> datetime.datetime | None:
    """When the release last entered ``stage`` through an approved gate."""
    found = (
        GateRequest.objects.filter(release=release, to_stage=stage, status=GateRequestStatus.APPROVED)
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)
        .first()
    )
    return found or release.stage_changed_at


def _context(system_version: SystemVersion, release: Release, to_stage: int, now: datetime.datetime) -> Context:
    affordances = _affordance_sets(system_version)
    return Context(
        sv=system_version,
        release=release,
        standard=standard_in_force(),
        from_stage=release.stage,
        to_stage=to_stage,
        now=now,
        changes=changes_since_predecessor(system_version, affordances),
        affordances=affordances,
        # "Afresh" at stage 3: evidence and sign-offs must postdate the stage-2 approval.
        fresh_since=_stage_entered(release, Stage.LIMITED) if to_stage == Stage.BROAD and release.pk else None,
    )


def suite_evidence_bound(*, system_version: SystemVersion, stage: int) -> list[dict[str, Any]]:
    """What a sign-off for ``stage`` binds as suite results: for each suite the
    standard requires there, the protocol, every run that counts and the
    verdict, exactly as the gate will read them. Registered with auditing
    (below deploy) at ready: ``auditing.selectors.suite_results_for``."""
    release = Release.objects.filter(system_version=system_version).first() or Release(system_version=system_version)
    return _bound_suites(_context(system_version, release, stage, timezone.now()))


def evaluate(
    *, system_version: SystemVersion, release: Release, to_stage: int, now: datetime.datetime | None = None
) -> tuple[dict[str, Any], Context]:
    """The checklist for moving ``release`` to ``to_stage`` now, and the
    context it was evaluated in (which sign-offs counted, which re-audits are
    met) for the decision that acts on it."""
    ctx = _context(system_version, release, to_stage, now or timezone.now())
    standard, now = ctx.standard, ctx.now
    items: list[Item] = [
        Item(
            "one_stage_forward",
            "The request is for the next stage",
            to_stage > release.stage and to_stage in STAGE_TRANSITIONS[release.stage],
            f"stage {release.stage} → {to_stage}",
        )
    ]
    items += _release_state(ctx)
    items += _reaudits(ctx)
    if to_stage == Stage.AUDITORS:
        items += _signoffs(ctx, auditor=False)
    elif to_stage in (Stage.LIMITED, Stage.BROAD):
        items += _suites(ctx)
        items.append(_findings(ctx))
        items += _signoffs(ctx, auditor=True)
        if to_stage == Stage.BROAD:
            items += _monitoring(ctx)
    checklist = {
        "system_version": {
            "id": str(system_version.pk),
            "name": system_version.name,
            "sequence": system_version.sequence,
            "online_learning": system_version.online_learning,
        },
        "from_stage": release.stage,
        "to_stage": to_stage,
        "standard": {"id": str(standard.pk), "version": standard.version},
        "evaluated_at": now.isoformat(),
        "passed": all(item.met for item in items if item.gates),
        "changes": ctx.changes,
        "items": [item.as_dict() for item in items],
    }
    return checklist, ctx


def checklist_digest(checklist: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(checklist)).hexdigest()
