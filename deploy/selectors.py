"""Reads on releases, scoped like the system version they belong to."""

from __future__ import annotations

from typing import Any

from core.actors import Actor
from core.permissions import VIEW, get_for
from deploy.models import Release
from labs.models import SystemVersion


def release_get(*, actor: Actor, system_version_pk: Any) -> Release:
    """The release of a system version the actor may see (404 otherwise). One
    that never left stage 0 has no row yet: an unsaved stage-0 release stands in."""
    system_version = get_for(SystemVersion.objects, actor, system_version_pk, VIEW)
    release = Release.objects.filter(system_version=system_version).first()
    return release or Release(system_version=system_version)


def system_version_for_release(*, actor: Actor, system_version_pk: Any) -> SystemVersion:
    """The system version whose release the actor is about to change (404 when
    they cannot see it; the service answers 403 when they may not change it)."""
    return get_for(SystemVersion.objects, actor, system_version_pk, VIEW)
