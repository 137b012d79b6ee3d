"""The log's side of the witness (transparency.witness_log) with the witness's
HTTP answers scripted: a good cosignature is shown; a cosignature or alarm by
another key, a tampered one, or an "alarm" whose evidence shows no split view
is refused and records nothing; a real split view is recorded once."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import override_settings

from core import merkle
from core.dsse import public_key_pem
from core.models import AuditEvent
from transparency import witness as w
from transparency import witness_log
from transparency.models import LogEntry, SignedTreeHead
from transparency.services import log_append
from transparency.signing import log_public_key, tree_head_sign
from transparency.witness_log import SPLIT_VIEW_ACTION, WitnessUnavailable, latest_cosigned_head, witness_pull

WITNESS = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
IMPOSTOR = Ed25519PrivateKey.from_private_bytes(b"\x06" * 32)


def head_of(size: int) -> w.TreeHead:
    sth = SignedTreeHead.objects.get(tree_size=size)
    return w.TreeHead(sth.tree_size, sth.root_hash, sth.timestamp, sth.signature)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, world: Any) -> dict[str, Any]:
    """What the scripted witness publishes (tests fill it in), with the log
    grown to 6 entries and the witness key pinned."""
    for i in range(6):
        log_append(kind="test.entry", record={"n": i}, subject=world.lab)
    answers: dict[str, Any] = {"/v1/cosigned-head": None, "/v1/split-views": {"results": []}}
    monkeypatch.setattr(witness_log, "_get", lambda path: answers[path])
    cache.clear()
    return answers


pinned = override_settings(
    STAGEGATE_WITNESS_URL="http://witness.invalid", STAGEGATE_WITNESS_PUBLIC_KEY=public_key_pem(WITNESS.public_key())
)


@pytest.mark.django_db
@pinned
def test_a_good_cosignature_is_shown(published: dict[str, Any]) -> None:
    published["/v1/cosigned-head"] = w.cosign(head=head_of(5), witness_key=WITNESS, cosigned_at=1)
    shown = latest_cosigned_head()
    assert shown is not None and shown["tree_size"] == 5 and shown["root_hash"] == head_of(5).root_hash
    assert not AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).exists()


@pytest.mark.django_db
@pinned
def test_a_cosignature_by_another_key_or_tampered_is_not_shown(published: dict[str, Any]) -> None:
    published["/v1/cosigned-head"] = w.cosign(head=head_of(5), witness_key=IMPOSTOR, cosigned_at=1)
    report = witness_pull()
    assert report.cosigned is None and "another key" in report.problems[0]
    good = w.cosign(head=head_of(5), witness_key=WITNESS, cosigned_at=1)
    published["/v1/cosigned-head"] = {**good, "cosigned_at": 2}
    report = witness_pull()
    assert report.cosigned is None and "does not verify" in report.problems[0]
    assert not AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).exists()


@pytest.mark.django_db
@pinned
def test_alarms_that_do_not_prove_a_split_view_record_nothing(published: dict[str, Any]) -> None:
    leaves = [merkle.leaf_hash(bytes(e.leaf)) for e in LogEntry.objects.order_by("index")]
    honest = w.Verdict(
        w.SPLIT_INCONSISTENT,
        "false alarm",
        {
            "cosigned": head_of(3).to_json(),
            "observed": head_of(6).to_json(),
            "proof": [p.hex() for p in merkle.consistency_proof(3, leaves)],
        },
    )
    published["/v1/split-views"] = {
        "results": [
            w.alarm_sign(verdict=honest, witness_key=WITNESS, detected_at=1),
            w.alarm_sign(verdict=honest, witness_key=IMPOSTOR, detected_at=1),
            "garbage",
        ]
    }
    report = witness_pull()
    assert len(report.problems) == 3 and report.new_alarms == []
    assert not AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).exists()


@pytest.mark.django_db
@pinned
def test_a_proven_split_view_is_recorded_once_for_the_regulator(published: dict[str, Any], world: Any) -> None:
    # The witness cosigned a root for size 6 that the log (signing with its key) later contradicts.
    ours = head_of(6)
    other_root = "ee" * 32
    other = w.TreeHead(
        6,
        other_root,
        ours.timestamp + 1,
        tree_head_sign(tree_size=6, root_hash=other_root, timestamp=ours.timestamp + 1),
    )
    verdict = w.check(last=other, new=ours, proof=None, log_key=log_public_key())
    assert verdict.outcome == w.SPLIT_SAME_SIZE
    alarm = w.alarm_sign(verdict=verdict, witness_key=WITNESS, detected_at=5)
    published["/v1/split-views"] = {"results": [alarm]}
    published["/v1/cosigned-head"] = w.cosign(head=other, witness_key=WITNESS, cosigned_at=5)

    # A page asking for the cosigned head shows none, and writes nothing.
    assert latest_cosigned_head() is None
    assert not AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).exists()

    report = witness_pull()
    assert alarm["digest"] in report.new_alarms and report.cosigned is None
    events = list(AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION))
    # The witness's alarm, and the log's own: the witness holds a signed head the log does not.
    assert {(e.after or {})["source"] for e in events} == {"witness", "log"}
    assert all(world.regulator_org.pk in {o.pk for o in e.organisations.all()} for e in events)
    assert witness_pull().new_alarms == []
    assert AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).count() == len(events)
    with pytest.raises(CommandError, match="split view"):
        call_command("witness_pull")


@pytest.mark.django_db
def test_without_a_witness_configured_nothing_is_shown_and_pull_says_why(world: Any) -> None:
    cache.clear()
    with override_settings(STAGEGATE_WITNESS_URL="", STAGEGATE_WITNESS_PUBLIC_KEY=""):
        assert latest_cosigned_head() is None
        with pytest.raises(WitnessUnavailable):
            witness_pull()


def test_the_periodic_pull_does_nothing_without_a_witness_and_is_scheduled(settings):
    from django.conf import settings as live

    from transparency.tasks import witness_pull as task

    settings.STAGEGATE_WITNESS_URL = ""
    assert task() == 0
    schedule = {entry["task"]: entry for entry in live.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["stagegate.transparency.witness_pull"]["schedule"] <= 300
