"""The transparency log: appends, the API's proofs checked with the independent
RFC 6962 implementation in test_pure_vectors, verify_log on edited or missing
rows, serialised concurrent appends, and reporting to the regulator."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from core import merkle
from core.models import AppendOnlyError, Organisation
from tests.transparency.test_pure_vectors import ref_mth, ref_path, ref_root_from_path, ref_subproof
from transparency import selectors, services
from transparency.models import LogEntry, LogNode, OutboxMessage, RegulatorInbox, SignedTreeHead
from transparency.signing import log_public_key, tree_head_verify


def append(n: int, subject: Organisation) -> list[LogEntry]:
    out = []
    for i in range(n):
        with transaction.atomic():
            out.append(services.log_append(kind="test.thing", record={"i": i, "digest": "ab" * 32}, subject=subject))
    return out


@pytest.fixture
def org(world):
    return world.lab


def leaves() -> list[bytes]:
    return [bytes(e.leaf) for e in LogEntry.objects.order_by("index")]


@pytest.mark.django_db
def test_append_builds_rfc6962_tree_and_signs_every_head(org):
    entries = append(11, org)
    assert [e.index for e in entries] == list(range(11))
    data = leaves()
    for size in range(1, 12):
        sth = SignedTreeHead.objects.get(tree_size=size)
        assert sth.root_hash == ref_mth(data[:size]).hex()
        assert tree_head_verify(
            tree_size=size, root_hash=sth.root_hash, timestamp=sth.timestamp, signature=sth.signature
        )
    # O(log n) storage per append: at most two nodes per leaf.
    assert LogNode.objects.count() < 2 * 11
    leaf = json.loads(data[3])
    assert leaf["kind"] == "test.thing" and leaf["subject"] == {"id": str(org.pk), "type": "core.organisation"}


@pytest.mark.django_db
def test_log_rows_are_append_only(org):
    (entry,) = append(1, org)
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    # The database refuses too, even past the ORM.
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute("UPDATE transparency_logentry SET kind = 'x' WHERE index = 0")


@pytest.mark.django_db
def test_api_tree_head_and_entry(org, client_for, world, api):
    append(3, org)
    client = client_for(world.customer)
    head = client.get("/api/log/tree-head").json()
    assert head["tree_size"] == 3
    assert head["root_hash"] == ref_mth(leaves()).hex()
    from core.dsse import load_public_key_pem

    key = load_public_key_pem(head["public_key"])
    assert tree_head_verify(
        tree_size=3, root_hash=head["root_hash"], timestamp=head["timestamp"], signature=head["signature"], key=key
    )
    entry = client.get("/api/log/entries/1").json()
    assert base64.b64decode(entry["leaf"]) == leaves()[1]
    assert entry["leaf_hash"] == merkle.leaf_hash(leaves()[1]).hex()
    assert entry["kind"] == "test.thing" and entry["subject_id"] == str(org.pk)
    assert client.get("/api/log/entries/3").status_code == 404
    assert api.get("/api/log/tree-head").status_code == 401


@pytest.mark.django_db
def test_empty_log_has_no_head(client_for, world):
    r = client_for(world.customer).get("/api/log/tree-head")
    assert r.status_code == 404 and r.json()["code"] == "log_empty"


@pytest.mark.django_db
def test_api_proofs_verify_with_the_independent_implementation(org, client_for, world):
    append(13, org)
    data = leaves()
    client = client_for(world.auditor)
    for size in (1, 2, 5, 8, 13):
        for index in range(size):
            r = client.get(f"/api/log/proof/inclusion?index={index}&tree_size={size}")
            assert r.status_code == 200, r.content
            path = [bytes.fromhex(h) for h in r.json()["audit_path"]]
            assert path == ref_path(index, data[:size])
            assert ref_root_from_path(data[index], index, size, path).hex() == r.json()["tree_head"]["root_hash"]
    for second in (2, 7, 13):
        for first in range(1, second + 1):
            r = client.get(f"/api/log/proof/consistency?first={first}&second={second}")
            assert r.status_code == 200, r.content
            proof = [bytes.fromhex(h) for h in r.json()["proof"]]
            assert proof == (ref_subproof(first, data[:second], True) if first < second else [])
            assert merkle.verify_consistency(
                first,
                second,
                bytes.fromhex(r.json()["first_tree_head"]["root_hash"]),
                bytes.fromhex(r.json()["second_tree_head"]["root_hash"]),
                proof,
            )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("proof/inclusion?index=3&tree_size=3", {"index"}),
        ("proof/inclusion?index=0&tree_size=4", {"tree_size"}),
        ("proof/inclusion?index=-1&tree_size=2", {"index"}),
        ("proof/inclusion?index=x&tree_size=2", {"index"}),
        ("proof/inclusion?tree_size=2", {"index"}),
        ("proof/consistency?first=3&second=2", {"first"}),
        ("proof/consistency?first=1&second=9", {"second"}),
        ("proof/consistency?first=0&second=2", {"first"}),
    ],
)
def test_out_of_range_proof_parameters_are_400_naming_the_field(org, client_for, world, query, fields):
    append(3, org)
    r = client_for(world.lab_admin).get(f"/api/log/{query}")
    assert r.status_code == 400, r.content
    assert fields <= set(r.json()["errors"])


def _sql(statement: str) -> None:
    # An attacker with database superuser rights: the append-only triggers are bypassed.
    with connection.cursor() as c:
        c.execute("SET session_replication_role = replica")
        c.execute(statement)
        c.execute("SET session_replication_role = DEFAULT")


@pytest.mark.django_db
def test_verify_log_passes_on_an_intact_log(org, capsys):
    append(6, org)
    call_command("verify_log")
    assert "ok: 6 entries and 6 signed tree heads" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        # An edited leaf (hash left as it was), an edited leaf with its hash recomputed, a deleted leaf,
        # an edited column, an edited stored node and a forged tree head.
        "UPDATE transparency_logentry SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'), '\"i\":2', '\"i\":9'), 'UTF8') WHERE index = 2",
        "UPDATE transparency_logentry SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'), '\"i\":2', '\"i\":9'), 'UTF8'), leaf_hash = encode(sha256('\\x00'::bytea || convert_to(replace(convert_from(leaf, 'UTF8'), '\"i\":2', '\"i\":9'), 'UTF8')), 'hex') WHERE index = 2",
        "DELETE FROM transparency_logentry WHERE index = 4",
        "UPDATE transparency_logentry SET subject_id = 'someone-else' WHERE index = 1",
        "UPDATE transparency_lognode SET hash = sha256(hash) WHERE level = 1 AND index = 0",
        "UPDATE transparency_signedtreehead SET root_hash = repeat('0', 64) WHERE tree_size = 3",
    ],
)
def test_verify_log_fails_loudly_on_tampering(org, tamper, capsys):
    append(6, org)
    _sql(tamper)
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_log")
    assert "LOG CHECK FAILED" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_tree(world):
    org_id = world.lab.pk
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            subject = Organisation.objects.get(pk=org_id)
            for i in range(5):
                with transaction.atomic():
                    services.log_append(kind="test.concurrent", record={"writer": n, "i": i}, subject=subject)
        except BaseException as e:
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert list(LogEntry.objects.order_by("index").values_list("index", flat=True)) == list(range(30))
    assert SignedTreeHead.objects.count() == 30
    report = selectors.log_verify()
    assert report.ok, report.problems


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_leaf(org):
    append(2, org)

    def fails() -> None:
        with transaction.atomic():
            services.log_append(kind="test.rollback", record={}, subject=org)
            raise RuntimeError("the thing it records failed")

    with pytest.raises(RuntimeError):
        fails()
    assert LogEntry.objects.count() == 2
    assert selectors.log_verify().ok


# Reporting to the regulator


@pytest.mark.django_db
def test_outbox_delivers_heads_and_gate_entries_at_least_once_idempotently(org):
    with transaction.atomic():
        services.log_append(kind="signoff.accept", record={"x": 1}, subject=org)
        services.log_append(kind="test.other", record={}, subject=org)
    assert OutboxMessage.objects.filter(kind="tree_head").count() == 2
    assert OutboxMessage.objects.filter(kind="entry").count() == 1  # test.other is not gate-relevant
    # A delivery that crashed after the regulator received it: the outbox re-sends, the inbox ignores it.
    first = OutboxMessage.objects.order_by("id").first()
    assert services.regulator_inbox_receive(outbox_id=first.pk, kind=first.kind, payload=first.payload)
    assert services.outbox_deliver() == 3
    assert services.outbox_deliver() == 0
    assert RegulatorInbox.objects.count() == 3
    assert not services.regulator_inbox_receive(outbox_id=first.pk, kind=first.kind, payload=first.payload)
    assert RegulatorInbox.objects.count() == 3


@pytest.mark.django_db
def test_deliver_outbox_task_runs_the_service(org):
    from transparency.tasks import deliver_outbox

    append(2, org)
    assert deliver_outbox.apply().get() == 2
    assert RegulatorInbox.objects.filter(kind="tree_head").count() == 2


@pytest.mark.django_db
def test_regulator_copy_is_consistent_and_a_fork_is_caught(org, capsys):
    append(3, org)
    services.outbox_deliver()
    append(4, org)
    services.outbox_deliver()
    append(1, org)  # not yet delivered: the check compares up to the log's head now
    report = selectors.regulator_copy_check()
    assert report.ok, report.problems
    assert report.tree_heads == 7
    call_command("check_regulator_copy")
    # The service rewrites history after the regulator saw head 5: the regulator's copy no longer fits.
    forged = "convert_to(replace(convert_from(leaf, 'UTF8'), '\"i\":1', '\"i\":7'), 'UTF8')"
    _sql(
        "UPDATE transparency_logentry SET leaf = FORGED, "
        "leaf_hash = encode(sha256('\\x00'::bytea || FORGED), 'hex') WHERE index = 1".replace("FORGED", forged)
    )
    _sql("DELETE FROM transparency_lognode")
    _sql("DELETE FROM transparency_signedtreehead")
    data = leaves()
    nodes: dict[merkle.Node, bytes] = {}
    for i, leaf in enumerate(data):
        for node, h in merkle.new_nodes(i, merkle.leaf_hash(leaf), nodes.__getitem__):
            nodes[node] = h
    with connection.cursor() as c:
        for (level, index), h in nodes.items():
            c.execute("INSERT INTO transparency_lognode (level, index, hash) VALUES (%s, %s, %s)", [level, index, h])
    from transparency.signing import tree_head_sign

    for size in range(1, len(data) + 1):
        root = merkle.range_hash(0, size, nodes.__getitem__).hex()
        SignedTreeHead(
            tree_size=size,
            root_hash=root,
            timestamp=1,
            signature=tree_head_sign(tree_size=size, root_hash=root, timestamp=1),
            key_id="x",
        ).save()
    assert selectors.log_verify().ok  # the rewritten log is self-consistent...
    report = selectors.regulator_copy_check()
    assert not report.ok  # ...but not with what the regulator already holds
    with pytest.raises(CommandError):
        call_command("check_regulator_copy")
    assert log_public_key() is not None
