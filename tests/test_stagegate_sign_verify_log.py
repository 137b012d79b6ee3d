"""``stagegate-sign verify-log`` and ``verify-receipt`` against the live test
server with nothing but the public API: the signed tree head, entries'
inclusion, consistency with a saved head across appends, a pinned key; and a
non-zero exit with a clear message for every tampered answer, a wrong pin, a
rolled-back log and a tampered receipt."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from stagegate_sign import cli
from stagegate_sign.cli import main
from tests.factories import OrganisationFactory
from transparency.services import log_append
from transparency.signing import log_key_id, log_public_key_pem


def _append(n: int) -> None:
    org = OrganisationFactory()
    for i in range(n):
        log_append(kind="test.entry", record={"n": i}, subject=org)


@pytest.fixture
def api(live_server: Any, transactional_db: Any) -> str:
    _append(5)
    return live_server.url + "/api"


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_log_checks_the_head_entries_and_consistency_across_appends(api, tmp_path, capsys):
    state = tmp_path / "head.json"
    code, out, err = run(
        capsys, "verify-log", "--api", api, "--key", log_key_id(), "--entry", "0", "--entry", "4", "--state", str(state)
    )
    assert code == 0, err
    assert f"OK key {log_key_id()} (pinned)" in out
    assert "OK tree head: 5 entries" in out
    assert "OK entry 0 (test.entry) is in the log of 5 entries" in out and "OK entry 4" in out
    assert json.loads(state.read_text())["tree_head"]["tree_size"] == 5

    _append(6)
    key_file = tmp_path / "log.pub.pem"
    key_file.write_text(log_public_key_pem())
    code, out, err = run(capsys, "verify-log", "--api", api, "--key", str(key_file), "--state", str(state))
    assert code == 0, err
    assert "OK the log of 11 entries extends the saved head of 5 entries unchanged" in out
    assert json.loads(state.read_text())["tree_head"]["tree_size"] == 11

    code, out, _ = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 0 and "OK the log is unchanged since the saved head (11 entries)" in out


def test_an_unpinned_key_is_called_out(api, capsys):
    code, _, err = run(capsys, "verify-log", "--api", api)
    assert code == 0 and "not pinned" in err


def test_a_wrong_pin_fails(api, tmp_path, capsys):
    code, _, err = run(capsys, "verify-log", "--api", api, "--key", "ab" * 32)
    assert code == 1 and "not the pinned key" in err and "do not trust" in err


def test_a_saved_head_the_log_does_not_extend_fails(api, tmp_path, capsys):
    state = tmp_path / "head.json"
    assert run(capsys, "verify-log", "--api", api, "--state", str(state))[0] == 0
    saved = json.loads(state.read_text())

    # A forged saved root (the signature no longer matches): refused.
    forged = json.loads(json.dumps(saved))
    forged["tree_head"]["root_hash"] = "00" * 32
    state.write_text(json.dumps(forged))
    code, _, err = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 1 and "signature does not verify" in err

    # A head the log really signed, larger than the log now: it was rolled back.
    from transparency.signing import tree_head_sign

    bigger = json.loads(json.dumps(saved))
    head = bigger["tree_head"]
    head["tree_size"] = 50
    head["signature"] = tree_head_sign(tree_size=50, root_hash=head["root_hash"], timestamp=head["timestamp"])
    state.write_text(json.dumps(bigger))
    code, _, err = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 1 and "rolled back or forked" in err

    # Same size, another signed root: a fork.
    fork = json.loads(json.dumps(saved))
    head = fork["tree_head"]
    head["root_hash"] = "11" * 32
    head["signature"] = tree_head_sign(tree_size=5, root_hash=head["root_hash"], timestamp=head["timestamp"])
    state.write_text(json.dumps(fork))
    code, _, err = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 1 and "the log forked" in err

    state.write_text("not json")
    code, _, err = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 1 and "not a state file" in err


def _tamper(monkeypatch: Any, path_part: str, change: Any) -> None:
    """Answers from the live server, with ``change`` applied to those whose
    path contains ``path_part``: a compromised or buggy server."""
    real = cli._public_get

    def fake(base: str, path: str, query: Any = None, *, binary: bool = False) -> Any:
        body = real(base, path, query, binary=binary)
        return change(body) if path_part in path else body

    monkeypatch.setattr(cli, "_public_get", fake)


def _flip(h: str) -> str:
    return ("1" if h[0] == "0" else "0") + h[1:]


@pytest.mark.parametrize(
    ("path_part", "change", "message"),
    [
        ("tree-head", lambda b: {**b, "root_hash": _flip(b["root_hash"])}, "signature does not verify"),
        ("tree-head", lambda b: {**b, "tree_size": b["tree_size"] + 1}, "signature does not verify"),
        ("/proof", lambda b: {**b, "audit_path": [_flip(b["audit_path"][0]), *b["audit_path"][1:]]}, "does not lead"),
        ("/proof", lambda b: {**b, "audit_path": b["audit_path"][:-1]}, "does not lead"),
        (
            "entries/2",
            lambda b: {**b, "leaf": base64.b64encode(base64.b64decode(b["leaf"]) + b" ").decode()},
            "does not hash",
        ),
        ("log/key", lambda b: {**b, "key_id": "ab" * 32}, "is not the SHA-256 of the key"),
    ],
)
def test_a_tampered_answer_fails_with_a_clear_message(api, tmp_path, capsys, monkeypatch, path_part, change, message):
    _tamper(monkeypatch, path_part, change)
    code, _, err = run(capsys, "verify-log", "--api", api, "--entry", "2")
    assert code == 1
    assert message in err, err


def test_a_tampered_consistency_proof_fails(api, tmp_path, capsys, monkeypatch):
    state = tmp_path / "head.json"
    assert run(capsys, "verify-log", "--api", api, "--state", str(state))[0] == 0
    _append(4)
    _tamper(monkeypatch, "consistency", lambda b: {**b, "proof": [_flip(b["proof"][0]), *b["proof"][1:]]})
    code, _, err = run(capsys, "verify-log", "--api", api, "--state", str(state))
    assert code == 1 and "NOT consistent" in err and "rewritten" in err
    # The state still holds the last head that verified.
    assert json.loads(state.read_text())["tree_head"]["tree_size"] == 5


def test_verify_receipt_from_the_api_and_from_files(api, tmp_path, capsys):
    code, out, err = run(capsys, "verify-receipt", "--api", api, "--entry", "3", "--key-id", log_key_id())
    assert code == 0, err
    assert "OK receipt: entry 3 is in the log of 5 entries" in out
    assert "OK the receipt's root is the log's signed tree head of 5 entries" in out

    receipt = cli._public_get(api, "public/log/entries/3/receipt", {"tree_size": 4}, binary=True)
    leaf = base64.b64decode(cli._public_get(api, "public/log/entries/3")["leaf"])
    (tmp_path / "r.cose").write_bytes(receipt)
    (tmp_path / "leaf.json").write_bytes(leaf)
    (tmp_path / "log.pub.pem").write_text(log_public_key_pem())
    offline = ["--receipt", str(tmp_path / "r.cose"), "--leaf", str(tmp_path / "leaf.json")]
    code, out, err = run(capsys, "verify-receipt", *offline, "--public-key", str(tmp_path / "log.pub.pem"))
    assert code == 0 and "entry 3 is in the log of 4 entries" in out, err

    # Tampered: one byte of the signature, or another entry's leaf.
    bad = bytearray(receipt)
    bad[-5] ^= 1
    (tmp_path / "bad.cose").write_bytes(bytes(bad))
    code, _, err = run(
        capsys,
        "verify-receipt",
        "--receipt",
        str(tmp_path / "bad.cose"),
        "--leaf",
        str(tmp_path / "leaf.json"),
        "--public-key",
        str(tmp_path / "log.pub.pem"),
    )
    assert code == 1 and "the receipt does not verify" in err
    code, _, err = run(capsys, "verify-receipt", "--api", api, "--entry", "2", "--receipt", str(tmp_path / "r.cose"))
    assert code == 1 and "does not verify" in err


def test_a_receipt_claiming_another_tree_size_is_caught_against_the_signed_heads(api, tmp_path, capsys):
    # The tree size sits in the unprotected header: for entry 5, trees of 9
    # and 10 leaves give the same path shape, so the receipt's own signature
    # still verifies. The signed tree head of the size it claims does not match.
    from transparency import scitt

    _append(5)
    receipt = cli._public_get(api, "public/log/entries/5/receipt", {"tree_size": 9}, binary=True)
    outer = scitt.cbor_decode(receipt)
    size, index, path = scitt.cbor_decode(outer.value[1][396][-1][0])
    assert (size, index) == (9, 5)
    outer.value[1] = {396: {-1: [scitt.cbor_encode([10, 5, path])]}}
    (tmp_path / "r.cose").write_bytes(scitt.cbor_encode(outer))
    code, out, err = run(capsys, "verify-receipt", "--api", api, "--entry", "5", "--receipt", str(tmp_path / "r.cose"))
    assert "entry 5 is in the log of 10 entries" in out  # what the receipt alone proves...
    assert code == 1 and "not the log's signed root for 10 entries" in err  # ...and what the log says


def test_verify_receipt_needs_its_inputs(capsys, tmp_path):
    code, _, err = run(capsys, "verify-receipt", "--leaf", "x")
    assert code == 1 and "--receipt" in err
    Path(tmp_path / "r").write_bytes(b"")
    code, _, err = run(capsys, "verify-receipt", "--receipt", str(tmp_path / "r"), "--leaf", str(tmp_path / "r"))
    assert code == 1 and "--public-key" in err
