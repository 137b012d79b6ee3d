"""``stagegate-sign whistle-*`` end to end against a live test server: the
regulator makes and registers its key; a whistleblower seals a report on
its own machine and submits it without credentials (another sends
plaintext through the API); the regulator fetches and opens both locally."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from core.actors import actor_for
from core.services import api_token_create
from monitoring.models import WhistleblowerKey, WhistleblowerReport
from stagegate_sign.cli import main
from tests.auditing.conftest import make_system_version


@pytest.mark.django_db(transaction=True)
def test_keygen_register_submit_and_decrypt(world: Any, live_server: Any, tmp_path: Path, capsys: Any) -> None:
    api = live_server.url + "/api"
    _, token = api_token_create(actor=actor_for(world.regulator), name="whistle")
    sv = make_system_version(world.lab, world.lab_engineer)
    key = tmp_path / "whistle.pem"

    assert main(["whistle-keygen", "--out", str(key)]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    keyid = out.split("keyid: ")[1].strip()
    assert main(["whistle-keygen", "--out", str(key)]) == 1  # never overwrites a key by accident
    capsys.readouterr()

    # Only the regulator registers it.
    _, lab_token = api_token_create(actor=actor_for(world.lab_admin), name="lab")
    assert main(["whistle-register", "--api", api, "--token", lab_token, "--key", str(key)]) == 1
    assert "regulator_only" in capsys.readouterr().err
    assert main(["whistle-register", "--api", api, "--token", token, "--key", str(key)]) == 0
    assert f"registered whistleblower key {keyid}: active" in capsys.readouterr().out
    assert WhistleblowerKey.objects.get().keyid == keyid

    # A whistleblower seals on its own machine and sends no credentials.
    (tmp_path / "report.txt").write_text("Evaluations were run on a different checkpoint.\n")
    submit = ["whistle-submit", "--api", api, "--file", str(tmp_path / "report.txt"), "--system-version", str(sv.pk)]
    assert main([*submit, "--expect-keyid", "0" * 64]) == 1  # not the key it was told to expect: nothing sent
    assert "nothing sent" in capsys.readouterr().err
    assert main([*submit, "--expect-keyid", keyid]) == 0
    assert "received on " in capsys.readouterr().out
    # Another sends plaintext through the API, which seals it at once.
    request = urllib.request.Request(
        api + "/whistleblower/reports",
        data=json.dumps({"plaintext": "Red-team results were deleted."}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    assert WhistleblowerReport.objects.count() == 2

    # The regulator fetches and opens them here.
    assert main(["whistle-decrypt", "--api", api, "--token", token, "--key", str(key)]) == 0
    shown = capsys.readouterr().out
    assert "Evaluations were run on a different checkpoint." in shown and "Red-team results were deleted." in shown
    assert f"system version {sv.pk}" in shown and "2 opened, 0 not opened" in shown
    out_dir = tmp_path / "opened"
    assert main(["whistle-decrypt", "--api", api, "--token", token, "--key", str(key), "--out", str(out_dir)]) == 0
    files = sorted(out_dir.iterdir())
    assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    # With the wrong key nothing opens, and it says so.
    other = tmp_path / "other.pem"
    main(["whistle-keygen", "--out", str(other)])
    capsys.readouterr()
    assert main(["whistle-decrypt", "--api", api, "--token", token, "--key", str(other)]) == 1
    assert "which you did not give" in capsys.readouterr().err
    # Only the regulator's token lists reports: anyone else sees none.
    assert main(["whistle-decrypt", "--api", api, "--token", lab_token, "--key", str(key)]) == 0
    assert "0 opened" in capsys.readouterr().out
