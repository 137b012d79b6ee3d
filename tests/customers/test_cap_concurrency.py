"""The stage-2 cap holds when many enrolments arrive at once: each enrolment
locks the release row before it counts, so they queue there and exactly
``cap`` succeed. Real threads, each with its own database connection, on
committed data."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from core.errors import Conflict
from customers.models import Enrolment
from standards.models import Standard
from tests.customers.conftest import enrol, verified_customer
from tests.factories import World, release_at

CAP = 3
CUSTOMERS = 10


@pytest.mark.django_db(transaction=True)
def test_the_cap_holds_under_concurrent_enrolments(reference_data: Any) -> None:
    from tests.auditing.conftest import make_system_version

    w = World.build()
    Standard.objects.in_force().update(stage2_customer_cap=CAP)
    sv = make_system_version(w.lab, w.lab_engineer)
    release_at(sv, 2)
    orgs = [verified_customer(w.regulator, f"customer-{n}")[0] for n in range(CUSTOMERS)]

    barrier = threading.Barrier(CUSTOMERS)
    enrolled: list[Any] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def enrol_one(org: Any) -> None:
        try:
            barrier.wait(timeout=10)
            enrolled.append(enrol(w.lab_admin, sv, org).pk)
        except Conflict as e:
            refused.append(e.code)
        except BaseException as e:
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enrol_one, args=(org,)) for org in orgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(enrolled) == CAP
    assert refused == ["customer_cap_reached"] * (CUSTOMERS - CAP)
    assert Enrolment.objects.active().filter(release__system_version=sv).count() == CAP
    assert set(Enrolment.objects.values_list("pk", flat=True)) == set(enrolled)
