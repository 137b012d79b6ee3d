"""Reads of the release state, for the apps that enforce it."""

from __future__ import annotations

from typing import Any

from releases.models import Release, ReleaseStatus


def release_state(*, system_version_id: Any) -> tuple[int, str]:
    """A system version's (stage, status); without a release row it is at
    stage 0 and active."""
    row = Release.objects.filter(system_version_id=system_version_id).values_list("stage", "status").first()
    return row if row is not None else (0, ReleaseStatus.ACTIVE.value)
