"""The public view of staged releases: system versions at stage 2 (limited
release) and above, where they stand, how they got there, and the
regulator's decisions, for anyone, without signing in.

What is shown is what the public may know, field by field: the lab's and
the system's names, the model's name, version and weights digest, the
system's configuration digest and affordances, the stage and status with
their dates, and each decision's stages, outcome, date, checklist digest,
the payload digests of the sign-offs it counted and its log entries. Never
shown: reasons and notes (the log holds their SHA-256), who acted (the log
holds a role), system prompts, endpoints, customers.

It reads the release state (``releases``), system versions (``labs``), the
gate decisions (``deploy``) and the log (``transparency``), importing each:
the public record is a presentation package above every app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet

from core.errors import InvalidInput, NotFound
from core.models import record_type
from deploy.models import GateRequest
from labs.models import SystemVersion
from releases.models import Release
from transparency import public_selectors
from transparency.models import LogEntry

PUBLIC_MIN_STAGE = 2
PAGE_SIZE = 25

RELEASE_FIELDS = (
    "system_version_id",
    "stage",
    "status",
    "stage_changed_at",
    "status_changed_at",
    "system_version__name",
    "system_version__sequence",
    "system_version__configuration_digest",
    "system_version__online_learning",
    "system_version__lab__name",
    "system_version__model_version__name",
    "system_version__model_version__version",
    "system_version__model_version__weights_digest",
)


def _public_releases() -> QuerySet[Any]:
    """The public scope: releases at stage 2 and above."""
    return Release.objects.filter(stage__gte=PUBLIC_MIN_STAGE)


@dataclass
class PublicRelease:
    system_version_id: str
    system_name: str
    sequence: int
    lab_name: str
    model_name: str
    model_version: str
    weights_digest: str
    configuration_digest: str
    online_learning: bool
    stage: int
    status: str
    stage_changed_at: Any
    status_changed_at: Any
    affordances: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "system_version": self.system_version_id,
            "system_name": self.system_name,
            "sequence": self.sequence,
            "lab_name": self.lab_name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "weights_digest": self.weights_digest,
            "configuration_digest": self.configuration_digest,
            "online_learning": self.online_learning,
            "affordances": self.affordances,
            "stage": self.stage,
            "status": self.status,
            "stage_changed_at": self.stage_changed_at.isoformat() if self.stage_changed_at else None,
            "status_changed_at": self.status_changed_at.isoformat() if self.status_changed_at else None,
        }


def _release(row: dict[str, Any]) -> PublicRelease:
    return PublicRelease(
        system_version_id=str(row["system_version_id"]),
        system_name=row["system_version__name"],
        sequence=row["system_version__sequence"],
        lab_name=row["system_version__lab__name"],
        model_name=row["system_version__model_version__name"],
        model_version=row["system_version__model_version__version"],
        weights_digest=row["system_version__model_version__weights_digest"],
        configuration_digest=row["system_version__configuration_digest"],
        online_learning=row["system_version__online_learning"],
        stage=row["stage"],
        status=row["status"],
        stage_changed_at=row["stage_changed_at"],
        status_changed_at=row["status_changed_at"],
    )


def _affordances(releases: list[PublicRelease]) -> None:
    if not releases:
        return
    through = SystemVersion.affordances.through
    names: dict[str, list[str]] = {}
    for sv_id, name in (
        through.objects.filter(systemversion_id__in=[r.system_version_id for r in releases])
        .order_by("affordance__name")
        .values_list("systemversion_id", "affordance__name")
    ):
        names.setdefault(str(sv_id), []).append(name)
    for r in releases:
        r.affordances = names.get(r.system_version_id, [])


@dataclass
class ReleasePage:
    releases: list[PublicRelease]
    number: int
    num_pages: int
    count: int


def release_list(*, q: str = "", stage: int | None = None, page: int = 1) -> ReleasePage:
    """Releases at stage 2 and above, most recently changed first; ``q``
    searches the system's and the lab's names."""
    q = (q or "").strip()
    errors: dict[str, list[str]] = {}
    if len(q) > 100:
        errors["q"] = ["At most 100 characters."]
    if stage is not None and stage not in (2, 3):
        errors["stage"] = ["Must be 2 or 3."]
    if page < 1 or page > 10_000:
        errors["page"] = ["Must be between 1 and 10000."]
    if errors:
        raise InvalidInput("The search is not valid.", errors=errors)
    qs = _public_releases()
    if q:
        qs = qs.filter(Q(system_version__name__icontains=q) | Q(system_version__lab__name__icontains=q))
    if stage is not None:
        qs = qs.filter(stage=stage)
    qs = qs.order_by("-stage_changed_at", "-created_at").values(*RELEASE_FIELDS)
    paginator = Paginator(qs, PAGE_SIZE)
    number = min(page, max(paginator.num_pages, 1))
    releases = [_release(row) for row in paginator.page(number).object_list]
    _affordances(releases)
    return ReleasePage(releases=releases, number=number, num_pages=paginator.num_pages, count=paginator.count)


@dataclass
class Decision:
    gate_request: str
    from_stage: int
    to_stage: int
    outcome: str
    decided_at: Any
    checklist_digest: str
    request_log_index: int | None
    decision_log_index: int | None
    signoff_digests: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate_request": self.gate_request,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "outcome": self.outcome,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "checklist_digest": self.checklist_digest,
            "request_log_index": self.request_log_index,
            "decision_log_index": self.decision_log_index,
            "signoff_payload_digests": self.signoff_digests,
        }


@dataclass
class HistoryItem:
    index: int
    kind: str
    logged_at: Any
    from_stage: int | None
    to_stage: int | None
    status: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "log_index": self.index,
            "kind": self.kind,
            "logged_at": self.logged_at.isoformat(),
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "status": self.status,
        }


@dataclass
class ReleaseDetail:
    release: PublicRelease
    release_id: str  # the log's subject id for the release (deploy.release:<id>)
    decisions: list[Decision]
    history: list[HistoryItem]


def _history(entries: list[LogEntry]) -> list[HistoryItem]:
    items = []
    for entry in entries:
        record = public_selectors.leaf_document(entry).get("record") or {}
        from_stage, to_stage = record.get("from_stage"), record.get("to_stage")
        if to_stage is None and entry.kind.startswith("release."):
            to_stage = record.get("stage")
        items.append(
            HistoryItem(
                index=entry.index,
                kind=entry.kind,
                logged_at=entry.logged_at,
                from_stage=from_stage if isinstance(from_stage, int) else None,
                to_stage=to_stage if isinstance(to_stage, int) else None,
                status=record.get("status") if isinstance(record.get("status"), str) else None,
            )
        )
    return items


def release_get(*, system_version_id: str) -> ReleaseDetail:
    """One public release with its decisions and its logged history (every
    entry about the release and its gate requests)."""
    try:
        sv_id = uuid.UUID(str(system_version_id))
    except ValueError:
        raise NotFound("No public release with that id.", code="no_public_release") from None
    row = _public_releases().filter(system_version_id=sv_id).values("pk", *RELEASE_FIELDS).first()
    if row is None:
        raise NotFound("No public release with that id.", code="no_public_release")
    release = _release(row)
    _affordances([release])
    requests = list(
        GateRequest.objects.filter(release_id=row["pk"])
        .order_by("created_at")
        .values(
            "pk",
            "from_stage",
            "to_stage",
            "status",
            "decided_at",
            "checklist_digest",
            "request_log_index",
            "decision_log_index",
        )
    )
    digests: dict[str, list[str]] = {}
    through = GateRequest.signoffs.through
    for gr_id, digest in (
        through.objects.filter(gaterequest_id__in=[r["pk"] for r in requests])
        .order_by("signoff__payload_digest")
        .values_list("gaterequest_id", "signoff__payload_digest")
    ):
        digests.setdefault(str(gr_id), []).append(digest)
    decisions = [
        Decision(
            gate_request=str(r["pk"]),
            from_stage=r["from_stage"],
            to_stage=r["to_stage"],
            outcome=r["status"],
            decided_at=r["decided_at"],
            checklist_digest=r["checklist_digest"],
            request_log_index=r["request_log_index"],
            decision_log_index=r["decision_log_index"],
            signoff_digests=digests.get(str(r["pk"]), []),
        )
        for r in requests
        if r["status"] in ("approved", "rejected")
    ]
    pairs = [(record_type(Release), str(row["pk"]))] + [(record_type(GateRequest), str(r["pk"])) for r in requests]
    history = _history(public_selectors.subject_entries(pairs))
    return ReleaseDetail(release=release, release_id=str(row["pk"]), decisions=decisions, history=history)
