"""The log's side of the independent witness: read what the witness
publishes (its latest cosigned head and any split views it refused), check it
against the witness's pinned public key and against the log's own tree heads,
and raise the alarm on the service side.

The log never writes to the witness and holds no credentials for its
database; it only reads ``STAGEGATE_WITNESS_URL`` (docs/witness.md).

A split view is recorded as an append-only, hash-chained audit event
(``transparency.split_view``) visible to the regulator's organisations, and
mailed to ``STAGEGATE_WITNESS_ALERT_EMAILS``. The log also raises one itself
when the witness cosigned a head the log no longer has (the log's storage
was rewritten under the witness's feet)."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction

from core.actors import system_actor
from core.audit import audit_event_record
from core.dsse import keyid_of, load_public_key_pem
from core.models import AuditEvent, Organisation, OrganisationKind
from transparency import witness as rules
from transparency.models import SignedTreeHead
from transparency.signing import log_public_key

logger = logging.getLogger("stagegate.witness")

SPLIT_VIEW_ACTION = "transparency.split_view"
CACHE_KEY = "stagegate:witness:cosigned-head"
CACHE_SECONDS = 60


class WitnessUnavailable(RuntimeError):
    pass


@functools.cache
def _witness_key(pem: str) -> Ed25519PublicKey:
    return load_public_key_pem(pem)


def witness_public_key() -> Ed25519PublicKey | None:
    pem = settings.STAGEGATE_WITNESS_PUBLIC_KEY
    return _witness_key(pem) if pem else None


def _get(path: str) -> Any:
    base = settings.STAGEGATE_WITNESS_URL
    if not base:
        raise WitnessUnavailable("STAGEGATE_WITNESS_URL is not set")
    try:
        resp = httpx.get(f"{base}{path}", timeout=settings.STAGEGATE_WITNESS_TIMEOUT)
    except httpx.HTTPError as e:
        raise WitnessUnavailable(f"GET {path}: {e}") from None
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise WitnessUnavailable(f"GET {path}: HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError:
        raise WitnessUnavailable(f"GET {path}: not JSON") from None


@dataclass
class PullReport:
    cosigned: dict[str, Any] | None = None
    new_alarms: list[str] = field(default_factory=list)  # evidence digests recorded this time
    problems: list[str] = field(default_factory=list)  # published records that failed a check


def _cosigned_view(record: dict[str, Any], head: rules.TreeHead, witness_key: Ed25519PublicKey) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "signature": head.signature,
        "witness_key_id": keyid_of(witness_key),
        "cosigned_at": record["cosigned_at"],
        "cosignature": record["cosignature"],
    }


def _regulator_orgs() -> list[Any]:
    return list(Organisation.objects.filter(kind=OrganisationKind.REGULATOR).values_list("pk", flat=True))


def _already_recorded(digest: str) -> bool:
    return AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION, after__digest=digest).exists()


@transaction.atomic
def split_view_record(*, alarm: dict[str, Any], source: str) -> bool:
    """Record one split view on the service side, once per evidence digest, and
    alert the regulator. Returns whether it was new."""
    digest = alarm["digest"]
    if _already_recorded(digest):
        return False
    # The audit trail needs a row to point at: the log's head at the disputed size if it
    # still has one, else its latest head.
    observed = alarm["evidence"].get("observed", {})
    target = (
        SignedTreeHead.objects.filter(tree_size=observed.get("tree_size")).first()
        or SignedTreeHead.objects.order_by("-tree_size").first()
    )
    if target is None:
        logger.critical("SPLIT VIEW %s reported, and the log holds no tree head at all", digest)
        return False
    audit_event_record(
        actor=system_actor(f"witness:{source}"),
        action=SPLIT_VIEW_ACTION,
        target=target,
        after={
            "digest": digest,
            "kind": alarm["kind"],
            "reason": alarm.get("reason", ""),
            "source": source,
            "witness": alarm.get("witness", ""),
            "detected_at": alarm.get("detected_at"),
            "evidence": alarm["evidence"],
        },
        organisations=_regulator_orgs(),
    )
    logger.critical("SPLIT VIEW of the transparency log (%s): %s [%s]", alarm["kind"], alarm.get("reason"), digest)
    recipients = settings.STAGEGATE_WITNESS_ALERT_EMAILS
    if recipients:
        body = json.dumps(alarm, indent=2, sort_keys=True)
        transaction.on_commit(
            lambda: send_mail(
                f"[Stagegate] transparency log split view: {alarm['kind']}",
                "The witness refused to cosign the log's tree head. Evidence:\n\n" + body,
                None,
                recipients,
                fail_silently=True,
            )
        )
    return True


def witness_pull() -> PullReport:
    """Read the witness's published records, check them, cache the latest
    cosigned head and record every split view not yet recorded."""
    report = PullReport()
    witness_key = witness_public_key()
    if witness_key is None:
        raise WitnessUnavailable("STAGEGATE_WITNESS_PUBLIC_KEY is not set")
    log_key = log_public_key()

    views = _get("/v1/split-views") or {}
    for item in views.get("results", []) if isinstance(views, dict) else []:
        try:
            alarm = rules.alarm_verify(item, witness_key=witness_key, log_key=log_key)
        except rules.WitnessInputError as e:
            report.problems.append(f"a published split view failed a check: {e}")
            continue
        if split_view_record(alarm=alarm, source="witness"):
            report.new_alarms.append(alarm["digest"])

    cosigned, problem, own_alarm = _cosigned_checked(witness_key, log_key)
    report.cosigned = cosigned
    if problem:
        report.problems.append(problem)
    if own_alarm is not None and split_view_record(alarm=own_alarm, source="log"):
        report.new_alarms.append(own_alarm["digest"])
    cache.set(CACHE_KEY, report.cosigned, CACHE_SECONDS)
    return report


def _cosigned_checked(
    witness_key: Ed25519PublicKey, log_key: Ed25519PublicKey
) -> tuple[dict[str, Any] | None, str, dict[str, Any] | None]:
    """Read and check the witness's latest cosignature (no writes): the head to
    show, or a problem with the record, or an alarm when the witness holds the
    log's signature over a head the log no longer has."""
    record = _get("/v1/cosigned-head")
    if record is None:
        return None, "", None
    try:
        head = rules.cosignature_verify(record, witness_key=witness_key, log_key=log_key)
    except rules.WitnessInputError as e:
        return None, f"the published cosignature failed a check: {e}", None
    ours = SignedTreeHead.objects.filter(tree_size=head.tree_size).first()
    if ours is not None and ours.root_hash == head.root_hash:
        return _cosigned_view(record, head, witness_key), "", None
    # The log's storage was rewritten (or rolled back) behind the witness.
    ours_json = (
        {
            "tree_size": ours.tree_size,
            "root_hash": ours.root_hash,
            "timestamp": ours.timestamp,
            "signature": ours.signature,
        }
        if ours is not None
        else None
    )
    evidence: dict[str, Any] = {"cosigned": head.to_json(), "log_now": ours_json}
    alarm = {
        "kind": rules.SPLIT_SAME_SIZE if ours is not None else rules.ROLLBACK,
        "reason": f"the witness cosigned a head of {head.tree_size} entries that the log no longer has",
        "evidence": evidence,
        "digest": rules.evidence_digest(evidence),
        "witness": keyid_of(witness_key),
        "detected_at": None,
    }
    return None, "", alarm


def latest_cosigned_head() -> dict[str, Any] | None:
    """The newest log tree head the witness has cosigned, checked against the
    witness's pinned key and the log's own heads, or None (no witness
    configured, unreachable, or nothing cosigned yet). Cached briefly: public
    pages and checklists may call it on every view."""
    cached = cache.get(CACHE_KEY, default="missing")
    if cached != "missing":
        return cached
    witness_key = witness_public_key()
    if not (settings.STAGEGATE_WITNESS_URL and witness_key):
        return None
    try:
        # Read only: recording a split view is witness_pull's (periodic) job, not a page's.
        cosigned, _, _ = _cosigned_checked(witness_key, log_public_key())
    except WitnessUnavailable as e:
        logger.warning("the witness is unavailable: %s", e)
        cache.set(CACHE_KEY, None, 10)
        return None
    cache.set(CACHE_KEY, cosigned, CACHE_SECONDS)
    return cosigned


def split_views_recorded(*, limit: int = 50) -> list[AuditEvent]:
    """The split views recorded on the service side, newest first (for the
    regulator's checklist; unscoped: callers show it to the regulator)."""
    return list(AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).order_by("-occurred_at")[:limit])
