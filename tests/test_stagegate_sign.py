"""``stagegate-sign`` end to end against a live test server: keygen, register,
sign (fetch, show, confirm, submit) and offline verify; the README's command
sequence run as written, non-interactively; and the refusals and warnings a
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
    # keygen writes the public key next to the private one, as verify takes it.
    assert (tmp_path / "key.pub.pem").read_text() == out.split("keyid:")[0]
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


# --- the README's sequence, run as written ----------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"
README_API = "http://127.0.0.1:8000/api"


def readme_signing_commands() -> list[str]:
    """The ``stagegate-sign`` commands of the first sh block in the README's
    "Signing, the log, evaluations" section, continuation lines joined."""
    section = README.read_text().split("## Signing, the log, evaluations", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("stagegate-sign "):
            commands.append(" ".join(line.split("#")[0].split()))
    return commands


def test_the_readme_names_every_step_in_order():
    steps = [c.split()[1] for c in readme_signing_commands()]
    assert steps == ["keygen", "register", "approve-key", "audits", "sign", "verify"]


@pytest.mark.django_db(transaction=True)
def test_the_readme_sequence_runs_as_written(world, setup, live_server, tmp_path):
    """Each README command through bash, in order, in a fresh folder, with
    standard input closed (nobody to answer a prompt): the placeholders are
    filled from what the earlier steps printed, as a reader would."""
    _, regulator_token = api_token_create(actor=actor_for(world.regulator), name="cli")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "API_TOKEN": setup["token"],
        "REGULATOR_TOKEN": regulator_token,
    }
    outputs = {}
    for command in readme_signing_commands():
        step = command.split()[1]
        result = subprocess.run(
            ["bash", "-c", command.replace(README_API, live_server.url + "/api")],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        outputs[step] = result.stdout
        if step == "keygen":
            env["KEYID"] = result.stdout.split("keyid: ")[1].split()[0]
        elif step == "audits":
            rows = [line.split() for line in result.stdout.splitlines()[1:]]
            assert len(rows) == 1, result.stdout
            env["AUDIT_ID"], _, env["SYSTEM_VERSION_ID"] = rows[0][:3]

    assert (tmp_path / "key.pem").exists() and (tmp_path / "key.pub.pem").exists()
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert "pending" in outputs["register"] and f"approved key {env['KEYID']}" in outputs["approve-key"]
    assert env["AUDIT_ID"] == str(setup["audit"].pk) and env["SYSTEM_VERSION_ID"] == str(setup["sv"].pk)
    signoff = SignOff.objects.get()
    assert signoff.key.keyid == env["KEYID"] and signoff.envelope == json.loads(
        (tmp_path / "envelope.json").read_text()
    )
    assert f"OK: signed by key {env['KEYID']}" in outputs["verify"]


# --- no terminal, and a halted release -------------------------------------


def _cli(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagegate_sign.cli", *args],
        cwd=Path(__file__).resolve().parents[1], stdin=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def approved(world, setup, live_server, tmp_path):
    """A registered, approved key and the sign command for it (without --yes)."""
    api = live_server.url + "/api"
    assert main(["keygen", "--out", str(setup["key"])]) == 0
    assert main(["register", "--api", api, "--token", setup["token"], "--key", str(setup["key"])]) == 0
    from auditing.models import SigningKey

    auditing.signing_key_approve(actor=actor_for(world.regulator), key=SigningKey.objects.get())
    return [
        "sign", "--api", api, "--token", setup["token"], "--key", str(setup["key"]),
        "--system-version", str(setup["sv"].pk), "--stage", "2", "--decision", "approve",
        "--audit", str(setup["audit"].pk),
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_without_a_terminal_it_says_to_pass_yes(world, setup, approved, live_server):
    result = _cli(*approved)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "EOFError" not in result.stderr
    assert "not a terminal" in result.stderr and "--yes" in result.stderr
    assert SignOff.objects.count() == 0
    # An answer piped in is an answer.
    piped = subprocess.run(
        [sys.executable, "-m", "stagegate_sign.cli", *approved],
        cwd=Path(__file__).resolve().parents[1], input="y\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert SignOff.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_approve_key_without_a_terminal_says_to_pass_yes(world, setup, live_server):
    from auditing.models import SigningKey

    api = live_server.url + "/api"
    assert main(["keygen", "--out", str(setup["key"])]) == 0
    assert main(["register", "--api", api, "--token", setup["token"], "--key", str(setup["key"])]) == 0
    keyid = SigningKey.objects.get().keyid
    _, regulator_token = api_token_create(actor=actor_for(world.regulator), name="cli")
    result = _cli("approve-key", "--api", api, "--token", regulator_token, "--keyid", keyid)
    assert result.returncode == 1 and "--yes" in result.stderr and "Traceback" not in result.stderr
    assert SigningKey.objects.get().status == "pending"
    # Only the regulator approves.
    refused = _cli("approve-key", "--api", api, "--token", setup["token"], "--keyid", keyid, "--yes")
    assert refused.returncode == 1 and "(403) regulator_only" in refused.stderr
    assert _cli("approve-key", "--api", api, "--token", regulator_token, "--keyid", keyid, "--yes").returncode == 0
    assert SigningKey.objects.get().status == "active"


@pytest.mark.django_db(transaction=True)
def test_sign_warns_when_the_release_is_halted(world, setup, approved, live_server, capsys, monkeypatch):
    from deploy.services import release_halt
    from tests.factories import release_at

    release_at(setup["sv"], 1)
    release_halt(actor=actor_for(world.regulator), system_version=setup["sv"], reason="Serious incident.")
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    assert main(approved) == 1
    captured = capsys.readouterr()
    assert (
        "WARNING" in captured.err and "HALTED by the regulator" in captured.err and "Serious incident" in captured.err
    )
    assert "despite the warning" in asked[0] and "Not signed." in captured.out
    assert SignOff.objects.count() == 0
    # Not from a terminal: the warning, then the refusal naming --yes.
    result = _cli(*approved)
    assert result.returncode == 1 and "HALTED" in result.stderr and "--yes" in result.stderr
    # --yes goes ahead, still warning.
    result = _cli(*approved, "--yes")
    assert result.returncode == 0, result.stderr
    assert "HALTED" in result.stderr and SignOff.objects.count() == 1


def test_a_suspended_release_is_called_out_and_an_active_one_is_not():
    from stagegate_sign.cli import release_warning

    suspended = release_warning({"status": "suspended", "stage": 2, "reason": ""})
    assert suspended and "SUSPENDED" in suspended and "no reason given" in suspended
    assert release_warning({"status": "active", "stage": 2, "reason": ""}) is None


def test_keygen_refuses_to_overwrite_either_half(tmp_path, capsys):
    key = tmp_path / "signer.pem"
    (tmp_path / "signer.pub.pem").write_text("someone else's")
    assert main(["keygen", "--out", str(key)]) == 1
    assert "signer.pub.pem exists" in capsys.readouterr().err and not key.exists()
    assert main(["keygen", "--out", str(key), "--public-out", str(tmp_path / "elsewhere.pem")]) == 0
    assert "BEGIN PUBLIC KEY" in (tmp_path / "elsewhere.pem").read_text()
