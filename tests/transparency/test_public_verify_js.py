"""The page's verifier (transparency/static/transparency/verify.js) run under
Node's WebCrypto with a minimal DOM: it says "verified" for a real proof,
"NOT verified" for any tampered part, and "not verified in this browser"
where WebCrypto or Ed25519 is missing, never a false "verified"."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import OrganisationFactory
from transparency.services import log_append

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (WebCrypto) to run the page's script"),
]

SCRIPT = Path(__file__).resolve().parents[2] / "transparency" / "static" / "transparency" / "verify.js"

# A DOM just large enough for verify.js: the verdict, the list of steps, the
# embedded proof. Prints the verdict's state and text once the script is done.
HARNESS = r"""
const fs = require("fs");
const [scriptPath, dataPath, mode] = process.argv.slice(2);
const nodes = {};
function el(id) {
  return {
    id, textContent: "", attrs: {}, children: [],
    setAttribute(k, v) { this.attrs[k] = v; },
    getAttribute(k) { return this.attrs[k]; },
    appendChild(c) { this.children.push(c); },
  };
}
nodes.verdict = el("verdict");
nodes.steps = el("steps");
nodes["proof-data"] = el("proof-data");
nodes["proof-data"].textContent = fs.readFileSync(dataPath, "utf8");
globalThis.document = { getElementById: (id) => nodes[id] || null, createElement: () => el("li") };
globalThis.window = globalThis;
if (mode === "no-subtle") {
  Object.defineProperty(globalThis, "crypto", { value: {}, configurable: true });
} else if (mode === "no-ed25519") {
  const real = globalThis.crypto.subtle;
  const fake = Object.create(real);
  fake.digest = real.digest.bind(real);
  fake.importKey = async () => { const e = new Error("nope"); e.name = "NotSupportedError"; throw e; };
  Object.defineProperty(globalThis, "crypto", { value: { subtle: fake }, configurable: true });
}
eval(fs.readFileSync(scriptPath, "utf8"));
const done = () => !["unknown"].includes(nodes.verdict.attrs["data-state"]) || !nodes.verdict.textContent.startsWith("Checking");
(function wait(n) {
  if (done() || n > 200) {
    console.log(JSON.stringify({
      state: nodes.verdict.attrs["data-state"],
      text: nodes.verdict.textContent,
      steps: nodes.steps.children.map((c) => c.textContent),
    }));
  } else setTimeout(() => wait(n + 1), 10);
})(0);
"""


def _run(tmp_path: Path, data: dict, mode: str = "") -> dict:
    (tmp_path / "harness.js").write_text(HARNESS)
    (tmp_path / "data.json").write_text(json.dumps(data))
    out = subprocess.run(
        ["node", str(tmp_path / "harness.js"), str(SCRIPT), str(tmp_path / "data.json"), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _proof_data(url: str) -> dict:
    html = Client().get(url).content.decode()
    return json.loads(re.search(r'<script id="proof-data" type="application/json">(.*?)</script>', html, re.S)[1])


@pytest.fixture
def log():
    org = OrganisationFactory()
    for i in range(11):
        log_append(kind="test.entry", record={"n": i}, subject=org)


def _flip_hex(h: str) -> str:
    return ("0" if h[0] != "0" else "1") + h[1:]


def test_an_untampered_inclusion_proof_is_verified(log, tmp_path):
    for index in (0, 5, 10):
        result = _run(tmp_path, _proof_data(f"/public/log/{index}"))
        assert result["state"] == "verified", result
        assert result["text"].startswith(f"Verified in this browser: entry {index} is in the log of 11 entries")
        assert len(result["steps"]) == 5 and all(s.startswith("✓") for s in result["steps"])


@pytest.mark.parametrize(
    "tamper",
    [
        "leaf",
        "leaf_hash",
        "audit_path",
        "root_hash",
        "signature",
        "timestamp",
        "key",
    ],
)
def test_any_tampered_part_of_an_inclusion_proof_is_not_verified(log, tmp_path, tamper):
    data = _proof_data("/public/log/6")
    inc, head, entry = data["inclusion"], data["inclusion"]["tree_head"], data["entry"]
    if tamper == "leaf":
        doc = json.loads(base64.b64decode(entry["leaf"]))
        doc["record"]["n"] = 99
        entry["leaf"] = base64.b64encode(json.dumps(doc).encode()).decode()
    elif tamper == "leaf_hash":
        entry["leaf_hash"] = inc["leaf_hash"] = _flip_hex(entry["leaf_hash"])
    elif tamper == "audit_path":
        inc["audit_path"][1] = _flip_hex(inc["audit_path"][1])
    elif tamper == "root_hash":
        head["root_hash"] = _flip_hex(head["root_hash"])
    elif tamper == "signature":
        sig = bytearray(base64.b64decode(head["signature"]))
        sig[0] ^= 1
        head["signature"] = base64.b64encode(bytes(sig)).decode()
    elif tamper == "timestamp":
        head["timestamp"] += 1
    elif tamper == "key":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from core import dsse

        other = Ed25519PrivateKey.generate().public_key()
        data["key"]["public_key_raw"] = base64.b64encode(dsse.raw_public_key(other)).decode()
    result = _run(tmp_path, data)
    assert result["state"] == "failed", result
    assert result["text"].startswith("NOT verified")


def test_without_webcrypto_or_ed25519_the_page_says_not_verified_here(log, tmp_path):
    data = _proof_data("/public/log/3")
    for mode in ("no-subtle", "no-ed25519"):
        result = _run(tmp_path, data, mode)
        assert result["state"] == "unknown", (mode, result)
        assert result["text"].startswith("Not verified in this browser"), (mode, result)
        assert "Verified in this browser" not in result["text"]


def test_consistency_between_two_heads_is_verified_and_a_forged_head_is_not(log, tmp_path):
    for first in (1, 4, 8, 11):
        result = _run(tmp_path, _proof_data(f"/public/log/consistency?first={first}&second=11"))
        assert result["state"] == "verified", (first, result)
        assert f"extends the log of {first} entries" in result["text"]
    data = _proof_data("/public/log/consistency?first=5&second=11")
    data["consistency"]["proof"][0] = _flip_hex(data["consistency"]["proof"][0])
    assert _run(tmp_path, data)["state"] == "failed"
    data = _proof_data("/public/log/consistency?first=5&second=11")
    data["consistency"]["first_tree_head"]["tree_size"] = 6
    assert _run(tmp_path, data)["state"] == "failed"
