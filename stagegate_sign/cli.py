"""``stagegate-sign``: generate an Ed25519 key, register it, fetch the
statement to sign from the API, show it, sign it and submit the DSSE envelope;
and verify an envelope offline. Needs no database and no Django: only
``cryptography``, RFC 8785 canonical JSON and the standard library."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import dsse
from core.canonical import canonical_json


class CliError(Exception):
    pass


def _api(base: str, token: str, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
    url = base.rstrip("/") + "/" + path.lstrip("/")
    if query:
        url += "?" + urllib.parse.urlencode(query)
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--api must be an http(s) URL, not {base!r}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (scheme checked above)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            problem = json.loads(e.read())
            detail = f"{problem.get('code')}: {problem.get('detail')}"
            if problem.get("errors"):
                detail += f" {problem['errors']}"
        except ValueError:
            detail = str(e)
        raise CliError(f"{method} {path} refused ({e.code}) {detail}") from None
    except urllib.error.URLError as e:
        raise CliError(f"cannot reach {url}: {e.reason}") from None


def _load_key(path: str) -> Ed25519PrivateKey:
    try:
        return dsse.load_private_key_pem(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as e:
        raise CliError(f"cannot read an Ed25519 private key from {path}: {e}") from None


def cmd_keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to overwrite it")
    key = Ed25519PrivateKey.generate()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(dsse.private_key_pem(key))
    os.chmod(out, 0o600)
    public = key.public_key()
    print(dsse.public_key_pem(public), end="")
    print(f"keyid: {dsse.keyid_of(public)}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    public = _load_key(args.key).public_key()
    body: dict[str, Any] = {"public_key": dsse.public_key_pem(public)}
    if args.organisation:
        body["organisation"] = args.organisation
    result = _api(args.api, args.token, "POST", "keys", body)
    print(f"registered key {result['keyid']} for {result['owner']} ({result['organisation_name']}): {result['status']}")
    return 0


def summary(statement: dict[str, Any]) -> str:
    p = statement.get("predicate", {})
    sv = p.get("system_version") or {}
    lines = [
        f"You are about to sign a stage {p.get('stage')} {str(p.get('decision', '')).upper()} for",
        f"  system version {sv.get('name')} v{sv.get('sequence')} ({sv.get('id')})",
    ]
    for s in statement.get("subject", []):
        lines.append(f"  {s.get('name')}: sha256:{s.get('digest', {}).get('sha256')}")
    lines.append(
        f"as {p.get('signer', {}).get('username')} ({p.get('role')}) of {p.get('organisation', {}).get('name')}"
    )
    if p.get("audit"):
        std = p.get("standard") or {}
        lines.append(f"audit {p['audit'].get('id')} under standard {std.get('version')}")
    lines.append(f"suites bound: {len(p.get('suites', []))}")
    findings = p.get("open_findings", [])
    lines.append(f"open findings bound: {len(findings)}")
    for f in findings:
        lines.append(f"  - {f.get('severity')} {f.get('id')} (log index {f.get('log_index')})")
    lines.append(f"issued {p.get('issued_at')}, valid until {p.get('valid_until')}")
    return "\n".join(lines)


def cmd_sign(args: argparse.Namespace) -> int:
    key = _load_key(args.key)
    query = {"system_version": args.system_version, "stage": str(args.stage), "decision": args.decision}
    if args.audit:
        query["audit"] = args.audit
    statement = _api(args.api, args.token, "GET", "signoffs/statement", query=query)
    if not isinstance(statement, dict) or statement.get("subject") is None:
        raise CliError("the server did not return a statement")
    print(summary(statement))
    if not args.yes:
        answer = input("Sign this? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Not signed.")
            return 1
    envelope = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(statement), key)
    if args.save:
        Path(args.save).write_text(envelope.to_json())
    result = _api(args.api, args.token, "POST", "signoffs", envelope.to_dict())
    print(
        f"accepted: sign-off {result['id']} (log index {result['log_index']}, payload sha256 {result['payload_digest']})"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        envelope = dsse.envelope_from_json(Path(args.envelope).read_bytes())
        key = dsse.load_public_key_pem(Path(args.public_key).read_bytes())
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None
    if not dsse.verify(envelope, key):
        print(f"INVALID: no signature verifies with key {dsse.keyid_of(key)}", file=sys.stderr)
        return 1
    try:
        statement = json.loads(envelope.payload)
    except ValueError:
        statement = None
    print(f"OK: signed by key {dsse.keyid_of(key)} (payload type {envelope.payload_type})")
    if isinstance(statement, dict):
        if canonical_json(statement) != envelope.payload:
            print("warning: the payload is not RFC 8785 canonical JSON", file=sys.stderr)
        print(summary(statement))
    else:
        print(f"payload: {base64.b64encode(envelope.payload).decode()}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stagegate-sign", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("keygen", help="generate an Ed25519 key pair")
    k.add_argument("--out", required=True, help="where to write the private key (PEM, mode 0600)")
    k.add_argument("--force", action="store_true")
    k.set_defaults(func=cmd_keygen)

    def server(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--api", required=True, help="the API base URL, e.g. https://stagegate.example/api")
        sp.add_argument("--token", default=os.environ.get("STAGEGATE_TOKEN"), help="API token (or STAGEGATE_TOKEN)")
        sp.add_argument("--key", required=True, help="your private key file")

    r = sub.add_parser("register", help="register your public key")
    server(r)
    r.add_argument("--organisation", help="organisation id, if you sign for several")
    r.set_defaults(func=cmd_register)

    s = sub.add_parser("sign", help="fetch, show, sign and submit a sign-off statement")
    server(s)
    s.add_argument("--system-version", required=True)
    s.add_argument("--stage", required=True, type=int, choices=(1, 2, 3))
    s.add_argument("--decision", required=True, choices=("approve", "reject"))
    s.add_argument("--audit")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--save", help="also write the envelope to this file")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser("verify", help="verify an envelope offline")
    v.add_argument("--envelope", required=True)
    v.add_argument("--public-key", required=True, help="the signer's public key, PEM file")
    v.set_defaults(func=cmd_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "token", "x") is None:
        print("stagegate-sign: --token (or STAGEGATE_TOKEN) is required", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except CliError as e:
        print(f"stagegate-sign: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
