"""Runs are the auditors' work: the running organisation and the regulator see
them. The lab sees that runs exist and their results (they bind its release)
but never the transcripts: the prompts and responses are the auditors'."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Q, QuerySet

from core.actors import Actor
from core.permissions import VIEW

QS = TypeVar("QS", bound=QuerySet[Any])


def eval_run_scope(qs: QS, actor: Actor, action: str) -> QS:
    if not actor.is_authenticated:
        return qs.none()
    if action != VIEW:
        # Start, cancel: a member of the running organisation while assigned.
        return qs.filter(
            organisation_id__in=actor.auditor_org_ids,
            audit__assignments__organisation_id__in=actor.auditor_org_ids,
            audit__assignments__ended_at__isnull=True,
        ).distinct()
    if actor.is_regulator:
        return qs
    return qs.filter(Q(organisation_id__in=actor.auditor_org_ids) | Q(audit__lab_id__in=actor.lab_ids))


def eval_sample_scope(qs: QS, actor: Actor, action: str) -> QS:
    """Transcripts (samples and the Inspect logs that hold them): the running
    organisation and the regulator; never the lab."""
    if not actor.is_authenticated or action != VIEW:
        return qs.none()
    if actor.is_regulator:
        return qs
    return qs.filter(run__organisation_id__in=actor.auditor_org_ids)


def eval_log_upload_scope(qs: QS, actor: Actor, action: str) -> QS:
    """Uploaded logs are the auditors' work, like transcripts: the uploading
    organisation and the regulator. The lab sees the run made from one."""
    if not actor.is_authenticated or action != VIEW:
        return qs.none()
    if actor.is_regulator:
        return qs
    return qs.filter(organisation_id__in=actor.auditor_org_ids)
