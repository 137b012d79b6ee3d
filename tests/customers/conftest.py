"""Fixtures for the customers tests: a KYC submission, a verified customer, a
system version standing at stage 2. Everything of customers' own goes through
its services; stages are set with tests.factories.release_at."""

from __future__ import annotations

from typing import Any

import pytest

from core.actors import actor_for
from core.models import OrganisationKind, Role
from customers import services
from tests.auditing.conftest import make_system_version
from tests.factories import OrganisationFactory, member, release_at

OWNERS = [
    {"full_name": "Ada Lovelace", "country": "GB", "ownership_percent": "60.00", "controls": True},
    {"full_name": "Grace Hopper", "country": "US", "ownership_percent": "40", "controls": False},
]


def actor(user: Any) -> Any:
    # A fresh actor: memberships may have changed since the user was last resolved.
    if hasattr(user, "_stagegate_actor"):
        del user._stagegate_actor
    return actor_for(user)


def details(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "legal_name": "Acme Bank plc",
        "registration_number": "01234567",
        "jurisdiction": "GB",
        "registered_address": "1 King Street, London EC2V 8AU",
        "stated_purpose": "Drafting replies to customer letters, reviewed by staff before sending.",
        "beneficial_owners": [dict(o) for o in OWNERS],
    }
    d.update(over)
    return d


def submit(org: Any, user: Any, **over: Any) -> Any:
    record, _ = services.kyc_submit(actor=actor(user), organisation=org, **details(**over))
    return record


def verify(regulator: Any, org: Any, **kwargs: Any) -> Any:
    return services.kyc_verify(
        actor=actor(regulator), organisation=org, note="Company registry and owners' passports checked.", **kwargs
    )


def verified_customer(regulator: Any, slug: str) -> tuple[Any, Any]:
    """A new customer organisation with a member and a verified KYC record."""
    org = OrganisationFactory(kind=OrganisationKind.CUSTOMER, name=f"Customer {slug}", slug=slug)
    user = member(org, Role.CUSTOMER_MEMBER, f"{slug}_member")
    submit(org, user, legal_name=f"Customer {slug} Ltd")
    verify(regulator, org)
    return org, user


def consent(org: Any, sv: Any) -> Any:
    """The customer's consent to enrolment in the system, by one of its members."""
    user = org.memberships.first().user
    return services.enrolment_consent_grant(actor=actor(user), system_version=sv, customer=org.pk)


def enrol(lab_admin: Any, sv: Any, org: Any) -> Any:
    consent(org, sv)
    return services.enrolment_create(actor=actor(lab_admin), system_version=sv, customer=org.pk)


@pytest.fixture
def sv(world: Any) -> Any:
    return make_system_version(world.lab, world.lab_engineer)


@pytest.fixture
def stage2(sv: Any) -> Any:
    release_at(sv, 2)
    return sv


@pytest.fixture
def acme(world: Any) -> Any:
    """The world's customer (Acme Bank), verified."""
    submit(world.customer_org, world.customer)
    verify(world.regulator, world.customer_org)
    return world.customer_org
