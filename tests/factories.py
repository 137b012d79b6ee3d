"""factory_boy factories and a small world with every role, in one place."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.models import Membership, Organisation, OrganisationKind, Role

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("slug",)

    kind = OrganisationKind.LAB
    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.LAB_ADMIN


def member(org: Organisation, role: str, username: str) -> Any:
    user = UserFactory(username=username)
    MembershipFactory(user=user, organisation=org, role=role)
    return user


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def in_days(days: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


@dataclass
class World:
    """Two labs, two auditor organisations, an academic group, a customer and the
    regulator, each with a member per role. Domain objects are added by the
    fixtures of each app's tests through the services."""

    regulator_org: Organisation
    lab: Organisation
    other_lab: Organisation
    auditor_org: Organisation
    other_auditor_org: Organisation
    academic_org: Organisation
    customer_org: Organisation
    regulator: Any
    lab_admin: Any
    lab_engineer: Any
    lab_reviewer: Any
    other_lab_admin: Any
    auditor: Any
    other_auditor: Any
    academic: Any
    customer: Any
    outsider: Any  # signed in, member of nothing

    @classmethod
    def build(cls) -> World:
        K = OrganisationKind
        regulator_org = OrganisationFactory(kind=K.REGULATOR, name="AI Safety Regulator", slug="regulator")
        lab = OrganisationFactory(kind=K.LAB, name="Aurora Labs", slug="aurora")
        other_lab = OrganisationFactory(kind=K.LAB, name="Borealis AI", slug="borealis")
        auditor_org = OrganisationFactory(kind=K.AUDITOR, name="Sentinel Audit", slug="sentinel")
        other_auditor_org = OrganisationFactory(kind=K.AUDITOR, name="Veritas Assurance", slug="veritas")
        academic_org = OrganisationFactory(kind=K.ACADEMIC, name="Univ. Alignment Group", slug="uag")
        customer_org = OrganisationFactory(kind=K.CUSTOMER, name="Acme Bank", slug="acme")
        return cls(
            regulator_org=regulator_org,
            lab=lab,
            other_lab=other_lab,
            auditor_org=auditor_org,
            other_auditor_org=other_auditor_org,
            academic_org=academic_org,
            customer_org=customer_org,
            regulator=member(regulator_org, Role.REGULATOR_STAFF, "regulator"),
            lab_admin=member(lab, Role.LAB_ADMIN, "lab_admin"),
            lab_engineer=member(lab, Role.LAB_ENGINEER, "lab_engineer"),
            lab_reviewer=member(lab, Role.LAB_REVIEWER, "lab_reviewer"),
            other_lab_admin=member(other_lab, Role.LAB_ADMIN, "other_lab_admin"),
            auditor=member(auditor_org, Role.AUDITOR, "auditor"),
            other_auditor=member(other_auditor_org, Role.AUDITOR, "other_auditor"),
            academic=member(academic_org, Role.ACADEMIC_AUDITOR, "academic"),
            customer=member(customer_org, Role.CUSTOMER_MEMBER, "customer"),
            outsider=UserFactory(username="outsider"),
        )


def release_at(system_version: Any, stage: int, status: str = "active") -> Any:
    """Test setup only: put a system version's release at ``stage`` (and
    ``status``) without going through the gates. The product moves stages only
    through deploy.services (gate requests approved by the regulator); tests of
    other apps use this to stand a system at the stage they need."""
    from releases.models import Release

    release, _ = Release.objects.update_or_create(
        system_version_id=system_version.pk,
        defaults={"stage": stage, "status": status, "stage_changed_at": timezone.now()},
    )
    return release
