"""Who is acting: a user resolved once into the organisations and roles that
every permission question is answered from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from core.models import Membership, OrganisationKind, Role


@dataclass(frozen=True)
class Actor:
    user: Any  # django.contrib.auth user, or None for system processes
    label: str
    roles: dict[UUID, frozenset[str]] = field(default_factory=dict)  # organisation id -> roles
    kinds: dict[UUID, str] = field(default_factory=dict)  # organisation id -> organisation kind

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def organisation_ids(self) -> frozenset[UUID]:
        return frozenset(self.roles)

    def ids_of_kind(self, kind: str) -> frozenset[UUID]:
        return frozenset(org for org, k in self.kinds.items() if k == kind)

    @property
    def lab_ids(self) -> frozenset[UUID]:
        return self.ids_of_kind(OrganisationKind.LAB)

    @property
    def auditor_org_ids(self) -> frozenset[UUID]:
        """Auditor organisations and academic groups: both audit."""
        return self.ids_of_kind(OrganisationKind.AUDITOR) | self.ids_of_kind(OrganisationKind.ACADEMIC)

    @property
    def customer_ids(self) -> frozenset[UUID]:
        return self.ids_of_kind(OrganisationKind.CUSTOMER)

    @property
    def is_regulator(self) -> bool:
        return bool(self.ids_of_kind(OrganisationKind.REGULATOR))

    def has_role(self, organisation_id: UUID, *roles: str) -> bool:
        return bool(self.roles.get(organisation_id, frozenset()) & set(roles))

    def labs_with_role(self, *roles: str) -> frozenset[UUID]:
        return frozenset(org for org in self.lab_ids if self.has_role(org, *roles))

    @property
    def lab_writer_ids(self) -> frozenset[UUID]:
        """Labs where this actor may register and change versions."""
        return self.labs_with_role(Role.LAB_ADMIN, Role.LAB_ENGINEER)


ANONYMOUS = Actor(user=None, label="anonymous")


def actor_for(user: Any) -> Actor:
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    cached = getattr(user, "_stagegate_actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    roles: dict[UUID, set[str]] = {}
    kinds: dict[UUID, str] = {}
    for org_id, kind, role in (
        Membership.objects.active().filter(user=user).values_list("organisation_id", "organisation__kind", "role")
    ):
        roles.setdefault(org_id, set()).add(role)
        kinds[org_id] = kind
    actor = Actor(
        user=user,
        label=user.get_username(),
        roles={k: frozenset(v) for k, v in roles.items()},
        kinds=kinds,
    )
    user._stagegate_actor = actor
    return actor


def system_actor(label: str) -> Actor:
    """A process acting on its own (a periodic task, a management command)."""
    return Actor(user=None, label=f"system:{label}")
