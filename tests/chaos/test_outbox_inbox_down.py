"""The regulator's inbox unavailable while the outbox delivers (fast: in the
normal suite). Delivery is at least once and the inbox idempotent: after an
outage every message arrives exactly once, none lost, the counts adding up."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, transaction

from transparency import services
from transparency.models import OutboxMessage, RegulatorInbox


class Inbox:
    """The real receiving side behind a switch: down, up, or failing every
    ``fail_every``-th call (a flaky network)."""

    def __init__(self, receive: Callable[..., bool]) -> None:
        self.receive = receive
        self.down = False
        self.fail_every = 0
        self.calls = itertools.count(1)
        self.refused = 0

    def __call__(self, **kwargs: Any) -> bool:
        n = next(self.calls)
        if self.down or (self.fail_every and n % self.fail_every == 0):
            self.refused += 1
            raise OperationalError("the regulator's inbox is unreachable")
        return self.receive(**kwargs)


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Inbox:
    switch = Inbox(services.regulator_inbox_receive)
    monkeypatch.setattr(services, "regulator_inbox_receive", switch)
    return switch


def append(n: int, subject: Any) -> None:
    for i in range(n):
        with transaction.atomic():
            services.log_append(kind="signoff.accept", record={"i": i, "digest": "ab" * 32}, subject=subject)


def tick() -> int | None:
    """One run of the periodic delivery task: how many it sent, or None if it failed."""
    try:
        return services.outbox_deliver(batch=10)
    except OperationalError:
        return None


def assert_everything_arrived_once() -> None:
    sent = dict(OutboxMessage.objects.values_list("pk", "payload"))
    received = dict(RegulatorInbox.objects.values_list("outbox_id", "payload"))
    assert received == sent  # every message, once (the inbox's key is the outbox id), unaltered
    assert not OutboxMessage.objects.filter(delivered_at__isnull=True).exists()


@pytest.mark.django_db
def test_the_outbox_catches_up_after_the_inbox_was_down(world: Any, inbox: Inbox) -> None:
    inbox.down = True
    append(6, world.lab)
    outage = [tick() for _ in range(5)]
    append(6, world.lab)  # the service goes on while the regulator is unreachable
    outage += [tick() for _ in range(5)]
    assert outage == [0] * 10  # each run gives up after three refusals in a row, raising nothing
    assert set(OutboxMessage.objects.values_list("delivered_at", flat=True)) == {None}
    assert inbox.refused == 10 * services.OUTBOX_GIVE_UP_AFTER
    assert not RegulatorInbox.objects.exists()
    waiting = OutboxMessage.objects.count()
    assert waiting == 24  # a tree head and an entry per append

    inbox.down = False
    sent: list[int] = []
    while n := tick():
        sent.append(n)
    assert sum(sent) == waiting  # in batches of 10, oldest first
    assert len(sent) == 3
    assert_everything_arrived_once()
    assert tick() == 0  # nothing twice


@pytest.mark.django_db
def test_a_delivery_retried_after_the_inbox_took_it_changes_nothing(world: Any, inbox: Inbox) -> None:
    append(3, world.lab)
    first = OutboxMessage.objects.order_by("pk").first()
    assert first is not None
    # The inbox took the first message, then the outbox's run died before marking it.
    assert services.regulator_inbox_receive(outbox_id=first.pk, kind=first.kind, payload=first.payload)
    assert tick() == 6
    assert_everything_arrived_once()


@pytest.mark.django_db
def test_an_intermittently_failing_inbox_still_receives_everything(world: Any, inbox: Inbox) -> None:
    append(15, world.lab)
    inbox.fail_every = 3
    for _ in range(40):  # the periodic task, forty times
        tick()
    assert_everything_arrived_once()
