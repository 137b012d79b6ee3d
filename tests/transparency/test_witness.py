"""The witness's rules (transparency.witness) and its process's round
(stagegate_witness.service) without a network: consistent growth is cosigned,
and two roots for one size, a forked history, a rolled-back head, a head not
signed by the log and a missing proof are each refused, with evidence kept
only for what the log's own signatures prove."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import merkle
from stagegate_witness.config import Config
from stagegate_witness.service import LogUnavailable, poll_once
from stagegate_witness.store import Store
from transparency import witness as w

LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)


def leaves(n: int, *, fork_at: int | None = None) -> list[bytes]:
    """Leaf hashes of a log of n entries (rewritten from ``fork_at`` on)."""
    return [
        merkle.leaf_hash((b"forked-%d" if fork_at is not None and i >= fork_at else b"leaf-%d") % i) for i in range(n)
    ]


def head(data: list[bytes], *, ts: int = 1000, key: Ed25519PrivateKey = LOG_KEY) -> w.TreeHead:
    root = merkle.tree_hash(data).hex()
    sig = key.sign(w.tree_head_bytes(tree_size=len(data), root_hash=root, timestamp=ts))
    return w.TreeHead(tree_size=len(data), root_hash=root, timestamp=ts, signature=base64.b64encode(sig).decode())


def check(last: w.TreeHead | None, new: w.TreeHead, proof: list[bytes] | None = None, **kw: Any) -> w.Verdict:
    return w.check(last=last, new=new, proof=proof, log_key=LOG_KEY.public_key(), **kw)


def test_tree_head_bytes_are_the_logs() -> None:
    from transparency.signing import tree_head_bytes

    args: dict[str, Any] = {"tree_size": 7, "root_hash": "ab" * 32, "timestamp": 123}
    assert w.tree_head_bytes(**args) == tree_head_bytes(**args)


def test_first_head_is_trusted_and_consistent_growth_is_cosigned() -> None:
    first = head(leaves(5))
    assert check(None, first).outcome == w.COSIGN
    data = leaves(13)
    verdict = check(first, head(data, ts=2000), merkle.consistency_proof(5, data))
    assert verdict.cosign and not verdict.alarm


def test_every_size_pair_of_a_consistent_log_is_cosigned() -> None:
    data = leaves(20)
    for m in range(1, 20):
        for n in range(m + 1, 21):
            v = check(head(data[:m]), head(data[:n], ts=2000), merkle.consistency_proof(m, data[:n]))
            assert v.outcome == w.COSIGN, (m, n)


def test_the_same_head_again_is_unchanged() -> None:
    h = head(leaves(4))
    assert check(h, h).outcome == w.UNCHANGED


def test_two_roots_for_one_size_is_a_split_view() -> None:
    cosigned = head(leaves(6))
    other = head(leaves(6, fork_at=3), ts=2000)
    v = check(cosigned, other)
    assert v.outcome == w.SPLIT_SAME_SIZE and v.alarm and not v.cosign
    assert v.evidence == {"cosigned": cosigned.to_json(), "observed": other.to_json()}


def test_a_forked_history_fails_consistency_and_is_a_split_view() -> None:
    cosigned = head(leaves(6))
    forked = leaves(9, fork_at=3)
    # The forked log proves its own history; that proof cannot reach the cosigned root.
    proof = merkle.consistency_proof(6, forked)
    v = check(cosigned, head(forked, ts=2000), proof)
    assert v.outcome == w.SPLIT_INCONSISTENT and v.alarm
    assert v.evidence["proof"] == [p.hex() for p in proof]


def test_a_tampered_or_missing_proof_is_refused() -> None:
    data = leaves(11)
    proof = merkle.consistency_proof(4, data)
    bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert check(head(data[:4]), head(data, ts=2000), bad).outcome == w.SPLIT_INCONSISTENT
    assert check(head(data[:4]), head(data, ts=2000), None).outcome == w.SPLIT_INCONSISTENT
    assert check(head(data[:4]), head(data, ts=2000), proof[:-1]).outcome == w.SPLIT_INCONSISTENT


def test_the_logs_own_signed_head_at_the_cosigned_size_can_prove_a_split_view() -> None:
    cosigned = head(leaves(6))
    data = leaves(8)
    # The new head happens to be consistent with what was cosigned, but the log
    # also signed another root for size 6 (served alongside the proof).
    other = head(leaves(6, fork_at=2), ts=1500)
    v = check(cosigned, head(data, ts=2000), merkle.consistency_proof(6, data), log_head_at_last_size=other)
    assert v.outcome == w.SPLIT_SAME_SIZE and v.evidence["observed_at_cosigned_size"] == other.to_json()
    # An unsigned "other head" proves nothing and does not stop cosigning.
    forged = w.TreeHead(6, other.root_hash, 1500, head(leaves(6), key=OTHER_KEY).signature)
    v = check(cosigned, head(data, ts=2000), merkle.consistency_proof(6, data), log_head_at_last_size=forged)
    assert v.outcome == w.COSIGN


def test_a_head_not_signed_by_the_log_is_rejected_without_an_alarm() -> None:
    cosigned = head(leaves(6))
    data = leaves(9)
    by_other = head(data, ts=2000, key=OTHER_KEY)
    v = check(cosigned, by_other, merkle.consistency_proof(6, data))
    assert v.outcome == w.REJECTED and not v.alarm and not v.cosign
    # Nor is a first head trusted without the log's signature.
    assert check(None, by_other).outcome == w.REJECTED
    garbled = w.TreeHead(9, by_other.root_hash, 2000, "not base64!")
    assert check(cosigned, garbled).outcome == w.REJECTED


def test_a_rolled_back_head_is_an_alarm_and_a_replayed_old_one_is_not() -> None:
    data = leaves(10)
    cosigned = head(data, ts=5000)
    rolled_back = head(data[:7], ts=6000)  # signed after the larger head
    v = check(cosigned, rolled_back)
    assert v.outcome == w.ROLLBACK and v.alarm
    replayed = head(data[:7], ts=4000)  # an old head, signed before
    assert check(cosigned, replayed).outcome == w.REJECTED


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"tree_size": 0, "root_hash": "ab" * 32, "timestamp": 1, "signature": "AA=="},
        {"tree_size": True, "root_hash": "ab" * 32, "timestamp": 1, "signature": "AA=="},
        {"tree_size": 3, "root_hash": "AB" * 32, "timestamp": 1, "signature": "AA=="},
        {"tree_size": 3, "root_hash": "ab" * 31, "timestamp": 1, "signature": "AA=="},
        {"tree_size": 3, "root_hash": "ab" * 32, "timestamp": -1, "signature": "AA=="},
        {"tree_size": 3, "root_hash": "ab" * 32, "timestamp": 1, "signature": ""},
    ],
)
def test_malformed_heads_are_refused(bad: Any) -> None:
    with pytest.raises(w.WitnessInputError):
        w.TreeHead.from_json(bad)


def test_malformed_proofs_are_refused() -> None:
    for bad in ("ab", ["zz" * 32], [1], ["ab" * 32] * 129):
        with pytest.raises(w.WitnessInputError):
            w.proof_from_json(bad)


def test_cosignatures_verify_only_under_the_pinned_keys() -> None:
    h = head(leaves(5))
    record = w.cosign(head=h, witness_key=WITNESS_KEY, cosigned_at=99)
    keys = {"witness_key": WITNESS_KEY.public_key(), "log_key": LOG_KEY.public_key()}
    assert w.cosignature_verify(record, **keys) == h
    with pytest.raises(w.WitnessInputError, match="another key"):
        w.cosignature_verify(record, witness_key=OTHER_KEY.public_key(), log_key=LOG_KEY.public_key())
    with pytest.raises(w.WitnessInputError, match="log's signature"):
        w.cosignature_verify(record, witness_key=WITNESS_KEY.public_key(), log_key=OTHER_KEY.public_key())
    for change in ({"cosigned_at": 100}, {"root_hash": "cd" * 32}, {"cosignature": record["signature"]}):
        with pytest.raises(w.WitnessInputError):
            w.cosignature_verify({**record, **change}, **keys)


def _split_alarm() -> dict[str, Any]:
    v = check(head(leaves(6)), head(leaves(9, fork_at=3), ts=2000), merkle.consistency_proof(6, leaves(9, fork_at=3)))
    return w.alarm_sign(verdict=v, witness_key=WITNESS_KEY, detected_at=7)


def test_alarms_are_signed_and_their_evidence_is_rechecked() -> None:
    keys = {"witness_key": WITNESS_KEY.public_key(), "log_key": LOG_KEY.public_key()}
    alarm = _split_alarm()
    assert w.alarm_verify(alarm, **keys)["kind"] == w.SPLIT_INCONSISTENT
    with pytest.raises(w.WitnessInputError, match="another key"):
        w.alarm_verify(alarm, witness_key=OTHER_KEY.public_key(), log_key=LOG_KEY.public_key())
    tampered = {**alarm, "evidence": {**alarm["evidence"], "proof": []}}
    with pytest.raises(w.WitnessInputError, match="digest"):
        w.alarm_verify(tampered, **keys)

    # A witness that signs an "alarm" over heads that are in fact consistent is not believed.
    data = leaves(9)
    honest = w.Verdict(
        w.SPLIT_INCONSISTENT,
        "false",
        {
            "cosigned": head(data[:6]).to_json(),
            "observed": head(data, ts=2000).to_json(),
            "proof": [p.hex() for p in merkle.consistency_proof(6, data)],
        },
    )
    forged = w.alarm_sign(verdict=honest, witness_key=WITNESS_KEY, detected_at=7)
    with pytest.raises(w.WitnessInputError, match="does not show a split view"):
        w.alarm_verify(forged, **keys)
    with pytest.raises(ValueError):
        w.alarm_sign(verdict=w.Verdict(w.COSIGN, "ok"), witness_key=WITNESS_KEY, detected_at=1)


# The process's round, against a scripted log and a SQLite store


class ScriptedLog:
    """Answers like the log's API from a list of leaves the test changes."""

    def __init__(self, data: list[bytes]) -> None:
        self.data = data
        self.ts = 1000
        self.down = False
        self.calls: list[str] = []

    def _head(self, n: int) -> dict[str, Any]:
        return head(self.data[:n], ts=self.ts).to_json()

    def get(self, path: str, **query: int) -> Any:
        self.calls.append(path)
        if self.down:
            raise LogUnavailable("connection refused")
        if path == "/log/tree-head":
            return self._head(len(self.data))
        first, second = query["first"], query["second"]
        return {
            "first": first,
            "second": second,
            "proof": [p.hex() for p in merkle.consistency_proof(first, self.data[:second])],
            "first_tree_head": self._head(first),
            "second_tree_head": self._head(second),
        }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'witness.sqlite3'}")
    s.migrate()
    return s


def config() -> Config:
    return Config(
        database_url="unused",
        signing_key=WITNESS_KEY,
        log_url="http://log.invalid/api",
        log_token="sg_test",
        log_key=LOG_KEY.public_key(),
    )


def test_a_round_cosigns_growth_and_stores_it(store: Store) -> None:
    log = ScriptedLog(leaves(3))
    assert poll_once(config=config(), store=store, client=log).outcome == w.COSIGN  # type: ignore[arg-type]
    log.data, log.ts = leaves(8), 2000
    assert poll_once(config=config(), store=store, client=log).outcome == w.COSIGN  # type: ignore[arg-type]
    assert log.calls[-1] == "/log/proof/consistency"
    last = store.last_cosigned()
    assert last is not None and last["tree_size"] == 8
    w.cosignature_verify(last, witness_key=WITNESS_KEY.public_key(), log_key=LOG_KEY.public_key())
    assert poll_once(config=config(), store=store, client=log).outcome == w.UNCHANGED  # type: ignore[arg-type]
    assert store.split_views() == []


def test_a_round_refuses_a_fork_and_keeps_the_evidence_once(store: Store) -> None:
    log = ScriptedLog(leaves(6))
    poll_once(config=config(), store=store, client=log)  # type: ignore[arg-type]
    log.data, log.ts = leaves(10, fork_at=2), 3000
    v = poll_once(config=config(), store=store, client=log)  # type: ignore[arg-type]
    assert v.alarm
    last = store.last_cosigned()
    assert last is not None and last["tree_size"] == 6  # nothing cosigned past the fork
    (alarm,) = store.split_views()
    w.alarm_verify(alarm, witness_key=WITNESS_KEY.public_key(), log_key=LOG_KEY.public_key())
    # Seen again: refused again, the evidence not duplicated.
    assert poll_once(config=config(), store=store, client=log).alarm  # type: ignore[arg-type]
    assert len(store.split_views()) == 1


def test_an_unreachable_log_is_no_evidence(store: Store) -> None:
    log = ScriptedLog(leaves(4))
    poll_once(config=config(), store=store, client=log)  # type: ignore[arg-type]
    log.data = leaves(9)
    log.down = True
    with pytest.raises(LogUnavailable):
        poll_once(config=config(), store=store, client=log)  # type: ignore[arg-type]
    assert store.split_views() == []
    last = store.last_cosigned()
    assert last is not None and last["tree_size"] == 4


def test_the_store_refuses_a_second_cosignature_for_a_size(store: Store) -> None:
    h = head(leaves(3))
    store.add_cosignature(w.cosign(head=h, witness_key=WITNESS_KEY, cosigned_at=1))
    with pytest.raises(sqlite3.IntegrityError):
        store.add_cosignature(w.cosign(head=h, witness_key=WITNESS_KEY, cosigned_at=2))


def test_the_store_needs_a_known_database_url(tmp_path: Path) -> None:
    for bad in ("mysql://x/y", "sqlite://host/x", "nonsense"):
        with pytest.raises(ValueError):
            Store(bad)


def _witness_env(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    from core.dsse import public_key_pem

    base = {
        "STAGEGATE_WITNESS_DATABASE_URL": "sqlite:////tmp/unused.sqlite3",
        "STAGEGATE_WITNESS_SIGNING_KEY": base64.b64encode(b"\x02" * 32).decode(),
        "STAGEGATE_WITNESS_LOG_URL": "https://log.example/api/",
        "STAGEGATE_WITNESS_LOG_TOKEN": "sg_token",
        "STAGEGATE_WITNESS_LOG_PUBLIC_KEY": public_key_pem(LOG_KEY.public_key()),
    }
    for k, v in {**base, **overrides}.items():
        monkeypatch.setenv(k, v)


def test_the_witness_reads_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from stagegate_witness.config import from_environment

    _witness_env(monkeypatch)
    c = from_environment()
    assert c.log_url == "https://log.example/api"
    assert c.signing_key.public_key().public_bytes_raw() == WITNESS_KEY.public_key().public_bytes_raw()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STAGEGATE_WITNESS_SIGNING_KEY", "", "is not set"),
        ("STAGEGATE_WITNESS_SIGNING_KEY", base64.b64encode(b"short").decode(), "32-byte"),
        ("STAGEGATE_WITNESS_SIGNING_KEY", "not base64!", "32-byte"),
        ("STAGEGATE_WITNESS_LOG_URL", "file:///etc/passwd", "http"),
        ("STAGEGATE_WITNESS_LOG_PUBLIC_KEY", "not a key", "STAGEGATE_WITNESS_LOG_PUBLIC_KEY"),
        ("STAGEGATE_WITNESS_LOG_TOKEN", " ", "is not set"),
    ],
)
def test_a_bad_environment_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    from stagegate_witness.config import ConfigError, from_environment

    _witness_env(monkeypatch, **{name: value})
    with pytest.raises(ConfigError, match=message):
        from_environment()


def test_the_published_records_are_read_only(store: Store) -> None:
    import threading

    import httpx

    from stagegate_witness.server import make_server

    log = ScriptedLog(leaves(3))
    poll_once(config=config(), store=store, client=log)  # type: ignore[arg-type]
    httpd = make_server(host="127.0.0.1", port=0, config=config(), store=store)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        head = httpx.get(base + "/v1/cosigned-head").json()
        assert head["tree_size"] == 3
        w.cosignature_verify(head, witness_key=WITNESS_KEY.public_key(), log_key=LOG_KEY.public_key())
        assert httpx.get(base + "/v1/split-views").json() == {"count": 0, "results": []}
        assert httpx.post(base + "/v1/cosigned-head", json={}).status_code == 405
        assert httpx.delete(base + "/v1/split-views").status_code == 405
        assert httpx.get(base + "/v1/nothing").status_code == 404
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_keygen_prints_a_seed_the_witness_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from stagegate_witness.__main__ import main
    from stagegate_witness.config import signing_key_from

    assert main(["keygen"]) == 0
    out = capsys.readouterr().out
    seed = out.splitlines()[0].removeprefix("STAGEGATE_WITNESS_SIGNING_KEY=")
    key = signing_key_from(seed)
    from core.dsse import keyid_of, public_key_pem

    assert keyid_of(key.public_key()) in out and public_key_pem(key.public_key()) in out


def test_the_cli_refuses_to_start_without_its_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stagegate_witness.__main__ import main

    _witness_env(monkeypatch, STAGEGATE_WITNESS_DATABASE_URL="")
    assert main(["once"]) == 2
    assert "STAGEGATE_WITNESS_DATABASE_URL is not set" in capsys.readouterr().err
