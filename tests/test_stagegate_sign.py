"""``stagegate-sign`` end to end against a live test server: keygen, register,
sign (fetch, show, confirm, submit) and offline verify; and the refusals a
signer sees."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditing import services as auditing
from auditing.models import SignOff
from core.actors import actor_for
from core.services import api_token_create
from stagegate_sign.cli import main
from tests.auditing.conftest import assign, certify, make_system_version, open_audit


@pytest.fixture
def setup(world: Any, tmp_path: Path) -> dict[str, Any]:
    # A transactional test may run after another flushed the standard the migrations seed.
    from standards.models import Standard

    if not Standard.objects.in_force().exists():
        from standards import services as standards

        reg = actor_for(world.regulator)
        draft = standards.standard_create(
            actor=reg, name="Baseline", version="test.1", summary="", suites=[], incident_kinds=[]
        )
        standards.standard_publish(actor=reg, standard=draft)
    for org in (world.auditor_org, world.other_auditor_org):
        certify(world, org)
    sv = make_system_version(world.lab, world.lab_engineer)
    audit = open_audit(world, sv)
    assign(world, audit, world.auditor_org)
    _, token = api_token_create(actor=actor_for(world.auditor), name="cli")
    return {"sv": sv, "audit": audit, "token": token, "key": tmp_path / "key.pem"}


@pytest.mark.django_db(transaction=True)
def test_keygen_register_sign_and_verify(world, setup, live_server, tmp_path, capsys, monkeypatch):
    api = live_server.url + "/api"
    key = setup["key"]
    assert main(["keygen", "--out", str(key)]) == 0
    out = capsys.readouterr().out
    assert "BEGIN PUBLIC KEY" in out and "keyid: " in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    keyid = out.split("keyid: ")[1].strip()
    (tmp_path / "pub.pem").write_text(out.split("keyid:")[0])
    assert main(["keygen", "--out", str(key)]) == 1  # never overwrites a key by accident

    assert main(["register", "--api", api, "--token", setup["token"], "--key", str(key)]) == 0
    assert "pending" in capsys.readouterr().out
    sign = [
        "sign", "--api", api, "--token", setup["token"], "--key", str(key),
        "--system-version", str(setup["sv"].pk), "--stage", "2", "--decision", "approve",
        "--audit", str(setup["audit"].pk), "--save", str(tmp_path / "env.json"),
    ]  # fmt: skip
    # Not yet approved by the regulator: refused, with the server's code.
    assert main([*sign, "--yes"]) == 1
    assert "key_not_approved" in capsys.readouterr().err
    from auditing.models import SigningKey

    auditing.signing_key_approve(actor=actor_for(world.regulator), key=SigningKey.objects.get(keyid=keyid))

    # The signer is shown what is signed and may decline.
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(sign) == 1
    shown = capsys.readouterr().out
    assert "stage 2 APPROVE" in shown and setup["sv"].configuration_digest in shown and "Not signed." in shown
    assert SignOff.objects.count() == 0

    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(sign) == 0
    assert "accepted: sign-off" in capsys.readouterr().out
    signoff = SignOff.objects.get()
    assert signoff.key.keyid == keyid and signoff.decision == "approve"

    # Offline verification, in a separate process with no server and no Django.
    result = subprocess.run(
        [sys.executable, "-m", "stagegate_sign.cli", "verify", "--envelope", str(tmp_path / "env.json"),
         "--public-key", str(tmp_path / "pub.pem")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=60,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"OK: signed by key {keyid}" in result.stdout
    env = json.loads((tmp_path / "env.json").read_text())
    assert env == signoff.envelope

    # A replay of the saved envelope is refused.
    from core.dsse import envelope_from_dict

    assert envelope_from_dict(env)
    r = __import__("urllib.request").request
    req = r.Request(
        api + "/signoffs",
        data=json.dumps(env).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {setup['token']}", "Content-Type": "application/json"},
    )
    with pytest.raises(Exception, match="409"):
        r.urlopen(req, timeout=10)


def test_verify_rejects_a_tampered_envelope(tmp_path, capsys):
    key = tmp_path / "k.pem"
    assert main(["keygen", "--out", str(key)]) == 0
    pub = capsys.readouterr().out.split("keyid:")[0]
    (tmp_path / "pub.pem").write_text(pub)
    from core import dsse

    priv = dsse.load_private_key_pem(key.read_bytes())
    env = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, b'{"a":1}', priv).to_dict()
    (tmp_path / "ok.json").write_text(json.dumps(env))
    assert main(["verify", "--envelope", str(tmp_path / "ok.json"), "--public-key", str(tmp_path / "pub.pem")]) == 0
    env["payload"] = "eyJhIjoyfQ=="  # {"a":2}
    (tmp_path / "bad.json").write_text(json.dumps(env))
    assert main(["verify", "--envelope", str(tmp_path / "bad.json"), "--public-key", str(tmp_path / "pub.pem")]) == 1
    assert "INVALID" in capsys.readouterr().err


def test_the_cli_imports_no_django():
    code = "import sys, stagegate_sign.cli; sys.exit(1 if any(m.startswith('django') for m in sys.modules) else 0)"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert result.returncode == 0
