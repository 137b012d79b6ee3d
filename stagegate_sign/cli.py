"""``stagegate-sign``: generate an Ed25519 key pair, register it, list your
audits, fetch the statement to sign from the API, show it (with the release's
state: halted or suspended is called out), sign it and submit the DSSE
envelope; and verify an envelope offline. For the regulator, approving a
signer's key and the whistleblower key:
generate an X25519 key, register its public half, fetch the sealed reports
and open them here (the private key never leaves this machine); and, for a
whistleblower, seal a report here and submit it without signing in. For
anyone, with nothing but the public API: ``verify-log`` checks the log's
signed tree head, entries' inclusion proofs and consistency with a tree head
saved earlier; ``verify-receipt`` checks an entry's SCITT receipt (COSE). Needs
no database and no Django: only ``cryptography``, RFC 8785 canonical JSON,
HPKE (monitoring.hpke), RFC 9162 proofs (core.merkle), COSE receipts
(transparency.scitt) and the standard library."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from core import dsse, merkle
from core.canonical import canonical_json
from monitoring import hpke
from transparency import scitt


class CliError(Exception):
    pass


def _api(
    base: str,
    token: str | None,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    *,
    url: str | None = None,
) -> Any:
    """Call the API; ``token`` None sends no credentials at all. ``url``, when
    given, is a full URL the server handed out (a page's ``next``)."""
    url = url or base.rstrip("/") + "/" + path.lstrip("/")
    if query:
        url += "?" + urllib.parse.urlencode(query)
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--api must be an http(s) URL, not {base!r}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (scheme checked above)
    if token is not None:
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


def _confirm(question: str, yes: bool) -> bool:
    """Ask on the terminal; ``--yes`` answers for the user. With nobody to ask
    (standard input closed, /dev/null, a pipe already read to its end) this is a
    clear refusal naming ``--yes``, not an EOFError traceback."""
    if yes:
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except (EOFError, OSError):
        raise CliError(
            "cannot ask for confirmation: standard input is not a terminal (or is closed). "
            "Read what is shown above and pass --yes to go ahead without being asked."
        ) from None
    return answer.strip().lower() in ("y", "yes")


def public_key_path(private: Path) -> Path:
    """``key.pem`` -> ``key.pub.pem`` (what ``verify --public-key`` takes)."""
    stem = private.name.removesuffix(".pem")
    return private.with_name(f"{stem}.pub.pem")


def cmd_keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    pub_out = Path(args.public_out) if args.public_out else public_key_path(out)
    if pub_out.resolve() == out.resolve():
        raise CliError("the public key cannot be written over the private key")
    for path in (out, pub_out):
        if path.exists() and not args.force:
            raise CliError(f"{path} exists; pass --force to overwrite it")
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    _write_private(out, dsse.private_key_pem(key), force=True)
    pub_out.write_text(dsse.public_key_pem(public))
    print(dsse.public_key_pem(public), end="")
    print(f"keyid: {dsse.keyid_of(public)}")
    print(f"wrote {out} (private, mode 0600: keep it here) and {pub_out} (public: share it)", file=sys.stderr)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    public = _load_key(args.key).public_key()
    body: dict[str, Any] = {"public_key": dsse.public_key_pem(public)}
    if args.organisation:
        body["organisation"] = args.organisation
    result = _api(args.api, args.token, "POST", "keys", body)
    print(f"registered key {result['keyid']} for {result['owner']} ({result['organisation_name']}): {result['status']}")
    if result.get("status") == "pending":
        print("The regulator must approve it before you can sign (stagegate-sign approve-key --keyid ...).")
    return 0


def cmd_approve_key(args: argparse.Namespace) -> int:
    """The regulator binds a registered key to its person and organisation.
    Shown first: check the keyid with the signer by another channel."""
    key = _api(args.api, args.token, "GET", f"keys/{urllib.parse.quote(args.keyid, safe='')}")
    print(f"key {key['keyid']}: {key['owner']} ({key['role']}) of {key['organisation_name']}, {key['status']}")
    if key.get("status") != "pending":
        raise CliError(f"key {key['keyid']} is {key.get('status')}, not pending: nothing to approve")
    if not _confirm("Approve this key?", args.yes):
        print("Not approved.")
        return 1
    result = _api(args.api, args.token, "POST", f"keys/{urllib.parse.quote(args.keyid, safe='')}/approve")
    print(f"approved key {result['keyid']} for {result['owner']} ({result['organisation_name']})")
    return 0


def cmd_audits(args: argparse.Namespace) -> int:
    """The audits you may see (an auditor: those your organisation is assigned
    to), one a line: the AUDIT_ID and SYSTEM_VERSION_ID that ``sign`` takes."""
    page = _api(args.api, args.token, "GET", "audits", query={"status": args.status} if args.status else None)
    print("AUDIT_ID                              STATUS     SYSTEM_VERSION_ID                     SYSTEM")
    while True:
        for a in page.get("results", []):
            print(f"{a['id']}  {a['status']:<9}  {a['system_version']}  {a['system_version_name']} ({a['lab_name']})")
        if not page.get("next"):
            return 0
        page = _api(args.api, args.token, "GET", "", url=page["next"])


def release_warning(release: dict[str, Any]) -> str | None:
    """A halted or suspended release is called out before anything is signed."""
    state = release.get("status")
    if state not in ("halted", "suspended"):
        return None
    by = "by the regulator" if state == "halted" else "(e.g. after a serious incident)"
    reason = str(release.get("reason") or "no reason given").rstrip(".")
    return (
        f"WARNING: this system version's release is {str(state).upper()} {by}, at stage {release.get('stage')}: "
        f"{reason}. Check with the regulator before you sign for it."
    )


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
    release = _api(args.api, args.token, "GET", f"releases/{urllib.parse.quote(str(args.system_version), safe='')}")
    print(summary(statement))
    print(f"release: stage {release.get('stage')}, {release.get('status')}")
    warning = release_warning(release) if isinstance(release, dict) else None
    if warning:
        print(warning, file=sys.stderr)
    if not _confirm("Sign this despite the warning above?" if warning else "Sign this?", args.yes):
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


# Whistleblower reports (the regulator's key; the whistleblower's submission)


def _write_private(out: Path, data: bytes, force: bool) -> None:
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite it")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(out, 0o600)


def _load_whistle_keys(paths: list[str]) -> dict[str, Any]:
    keys = {}
    for path in paths:
        try:
            key = hpke.load_private_key_pem(Path(path).read_bytes())
        except (OSError, ValueError, TypeError) as e:
            raise CliError(f"cannot read an X25519 private key from {path}: {e}") from None
        keys[hpke.keyid_of(key.public_key())] = key
    return keys


def cmd_whistle_keygen(args: argparse.Namespace) -> int:
    key = X25519PrivateKey.generate()
    _write_private(Path(args.out), hpke.private_key_pem(key), args.force)
    public = key.public_key()
    print(f"public key: {hpke.public_key_b64(public)}")
    print(f"keyid: {hpke.keyid_of(public)}")
    return 0


def cmd_whistle_register(args: argparse.Namespace) -> int:
    key = next(iter(_load_whistle_keys([args.key]).values()))
    result = _api(
        args.api, args.token, "POST", "whistleblower/keys", {"public_key": hpke.public_key_b64(key.public_key())}
    )
    print(f"registered whistleblower key {result['keyid']}: {result['status']}")
    return 0


def cmd_whistle_decrypt(args: argparse.Namespace) -> int:
    """Fetch every report (one page after another), check its digest, open
    it with the matching private key and print it (or write one file per
    report into --out, mode 0600). Nothing opened is sent anywhere."""
    keys = _load_whistle_keys(args.key)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    query = {"status": args.status} if args.status else None
    page = _api(args.api, args.token, "GET", "whistleblower/reports", query=query)
    opened = failed = 0
    while True:
        for report in page.get("results", []):
            rid, sv = report["id"], report.get("system_version")
            head = f"report {rid} received {report['received_on']} ({report['status']})"
            head += f", system version {sv}" if sv else ", no system version named"
            sealed = base64.b64decode(report["sealed"])
            key = keys.get(report["keyid"])
            if hashlib.sha256(sealed).hexdigest() != report["sealed_sha256"]:
                print(f"{head}: DIGEST MISMATCH, not opened", file=sys.stderr)
                failed += 1
                continue
            if key is None:
                print(f"{head}: sealed to key {report['keyid']}, which you did not give (--key)", file=sys.stderr)
                failed += 1
                continue
            try:
                text = hpke.open_sealed(sealed, key, system_version_id=sv).decode("utf-8", errors="replace")
            except hpke.SealError as e:
                print(f"{head}: DOES NOT OPEN: {e}", file=sys.stderr)
                failed += 1
                continue
            opened += 1
            if out is not None:
                fd = os.open(out / f"{rid}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(f"{head}\n\n{text}\n")
                print(f"{head}: written to {out / f'{rid}.txt'}")
            else:
                print(f"--- {head}\n{text}\n")
        if not page.get("next"):
            break
        page = _api(args.api, args.token, "GET", "", url=page["next"])
    print(f"{opened} opened, {failed} not opened")
    return 0 if failed == 0 else 1


def cmd_whistle_submit(args: argparse.Namespace) -> int:
    """Seal a report here to the regulator's published key and submit it
    without any credentials. Check the key id against one the regulator
    publishes elsewhere (--expect-keyid) if you can."""
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read the report: {e}") from None
    published = _api(args.api, None, "GET", "whistleblower/key")
    try:
        key = hpke.load_public_key_b64(published["public_key"])
    except (hpke.SealError, KeyError, TypeError) as e:
        raise CliError(f"the server's key is not usable: {e}") from None
    keyid = hpke.keyid_of(key)
    if keyid != published.get("keyid") or (args.expect_keyid and keyid != args.expect_keyid):
        raise CliError(f"the server's key {keyid} is not the one expected; nothing sent")
    sealed = hpke.seal(text.encode("utf-8"), key, system_version_id=args.system_version)
    body = {"sealed": hpke.encode_sealed(sealed), "keyid": keyid, "system_version": args.system_version}
    receipt = _api(args.api, None, "POST", "whistleblower/reports", body)
    print(f"received on {receipt['received_on']}: report {receipt['id']}, sha256 {receipt['sealed_sha256']}")
    return 0


# The public record: verify the log and receipts with nothing but the public API


def _public_get(base: str, path: str, query: dict[str, Any] | None = None, *, binary: bool = False) -> Any:
    """GET from the public API (no credentials); JSON, or bytes with ``binary``."""
    url = base.rstrip("/") + "/" + path.lstrip("/")
    if query:
        url += "?" + urllib.parse.urlencode(query)
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--api must be an http(s) URL, not {base!r}")
    request = urllib.request.Request(url, method="GET")  # noqa: S310 (scheme checked above)
    request.add_header("Accept", scitt.SCITT_MEDIA_TYPE if binary else "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as e:
        try:
            problem = json.loads(e.read())
            detail = f"{problem.get('code')}: {problem.get('detail')}"
        except ValueError:
            detail = str(e)
        raise CliError(f"GET {path} refused ({e.code}) {detail}") from None
    except urllib.error.URLError as e:
        raise CliError(f"cannot reach {url}: {e.reason}") from None
    if binary:
        return body
    try:
        return json.loads(body)
    except ValueError:
        raise CliError(f"GET {path} did not answer JSON") from None


class VerifyFailed(CliError):
    """A check failed: the log, a proof or a signature is not what it claims."""


def tree_head_signed_bytes(head: dict[str, Any]) -> bytes:
    """What a tree head signature covers (transparency.signing.tree_head_bytes)."""
    return canonical_json(
        {
            "log": head["log"],
            "root_hash": head["root_hash"],
            "timestamp": int(head["timestamp"]),
            "tree_size": int(head["tree_size"]),
        }
    )


def _head_fields(head: Any, what: str) -> dict[str, Any]:
    try:
        out: dict[str, Any] = {
            "log": str(head["log"]),
            "tree_size": int(head["tree_size"]),
            "root_hash": str(head["root_hash"]),
            "timestamp": int(head["timestamp"]),
            "signature": str(head["signature"]),
            "key_id": str(head["key_id"]),
        }
        bytes.fromhex(out["root_hash"])
    except (KeyError, TypeError, ValueError):
        raise VerifyFailed(f"{what} is not a well-formed tree head") from None
    if out["tree_size"] < 1 or len(out["root_hash"]) != 64:
        raise VerifyFailed(f"{what} is not a well-formed tree head")
    return out


def verify_tree_head(head: dict[str, Any], key: Any, what: str) -> None:
    try:
        signature = base64.b64decode(head["signature"], validate=True)
        key.verify(signature, tree_head_signed_bytes(head))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        raise VerifyFailed(f"{what}: the signature does not verify with the log's key") from None
    if head["key_id"] != dsse.keyid_of(key):
        raise VerifyFailed(f"{what} names key {head['key_id']}, not the log's key {dsse.keyid_of(key)}")


def _pinned(pin: str) -> str:
    """A key id from --key: 64 hex digits, or a PEM public key file."""
    text = pin.strip().lower()
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text
    try:
        return dsse.keyid_of(dsse.load_public_key_pem(Path(pin).read_bytes()))
    except (OSError, ValueError, TypeError) as e:
        raise CliError(f"--key must be the log's key id (64 hex digits) or its PEM file: {e}") from None


def log_key(base: str, pin: str | None) -> Any:
    """The log's public key from the API, checked against its id and the pin."""
    info = _public_get(base, "public/log/key")
    try:
        key = dsse.load_public_key_pem(info["public_key"])
    except (KeyError, TypeError, ValueError) as e:
        raise VerifyFailed(f"the log's published key is not an Ed25519 public key: {e}") from None
    keyid = dsse.keyid_of(key)
    if info.get("key_id") != keyid:
        raise VerifyFailed(f"the published key id {info.get('key_id')} is not the SHA-256 of the key ({keyid})")
    if pin is not None:
        expected = _pinned(pin)
        if keyid != expected:
            raise VerifyFailed(f"the log's key is {keyid}, not the pinned key {expected}: do not trust this log")
        print(f"OK key {keyid} (pinned)")
    else:
        print(f"key {keyid} (not pinned: compare it with one published elsewhere, then pass --key)", file=sys.stderr)
    return key


def _hashes(values: Any, what: str) -> list[bytes]:
    try:
        out = [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError):
        raise VerifyFailed(f"{what} holds something that is not a hex hash") from None
    if any(len(h) != merkle.HASH_SIZE for h in out):
        raise VerifyFailed(f"{what} holds a hash that is not 32 bytes")
    return out


def verify_entry(base: str, index: int, head: dict[str, Any]) -> None:
    entry = _public_get(base, f"public/log/entries/{index}")
    try:
        leaf = base64.b64decode(entry["leaf"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise VerifyFailed(f"entry {index}: the leaf is not base64") from None
    leaf_hash = merkle.leaf_hash(leaf)
    if entry.get("index") != index or entry.get("leaf_hash") != leaf_hash.hex():
        raise VerifyFailed(f"entry {index}: the leaf does not hash to the leaf hash given")
    try:
        doc = json.loads(leaf)
    except ValueError:
        raise VerifyFailed(f"entry {index}: the leaf is not JSON") from None
    if not isinstance(doc, dict) or doc.get("index") != index:
        raise VerifyFailed(f"entry {index}: the leaf names another index")
    proof = _public_get(base, f"public/log/entries/{index}/proof", {"tree_size": head["tree_size"]})
    proof_head = _head_fields(proof.get("tree_head"), f"entry {index}'s proof")
    if (proof_head["tree_size"], proof_head["root_hash"]) != (head["tree_size"], head["root_hash"]):
        raise VerifyFailed(f"entry {index}: the proof is for another tree head than the one verified")
    path = _hashes(proof.get("audit_path"), f"entry {index}'s audit path")
    if not merkle.verify_inclusion(leaf_hash, index, head["tree_size"], path, bytes.fromhex(head["root_hash"])):
        raise VerifyFailed(f"entry {index}: the inclusion proof does not lead to the signed root")
    print(f"OK entry {index} ({doc.get('kind')}) is in the log of {head['tree_size']} entries")


def verify_consistent(base: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    m, n = old["tree_size"], new["tree_size"]
    if m > n:
        raise VerifyFailed(
            f"the log has {n} entries but a head of {m} was saved: it was rolled back or forked, do not trust it"
        )
    if m == n:
        if old["root_hash"] != new["root_hash"]:
            raise VerifyFailed(f"two different signed roots for {m} entries: the log forked")
        print(f"OK the log is unchanged since the saved head ({m} entries)")
        return
    c = _public_get(base, "public/log/consistency", {"first": m, "second": n})
    first = _head_fields(c.get("first_tree_head"), "the consistency proof's first head")
    second = _head_fields(c.get("second_tree_head"), "the consistency proof's second head")
    if first["root_hash"] != old["root_hash"] or second["root_hash"] != new["root_hash"]:
        raise VerifyFailed("the consistency proof is for other tree heads than the saved and the latest one")
    proof = _hashes(c.get("proof"), "the consistency proof")
    if not merkle.verify_consistency(m, n, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]), proof):
        raise VerifyFailed(f"the log of {n} entries is NOT consistent with the saved head of {m}: it was rewritten")
    print(f"OK the log of {n} entries extends the saved head of {m} entries unchanged")


def _write_state(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def cmd_verify_log(args: argparse.Namespace) -> int:
    """Fetch and check the latest signed tree head; check entries' inclusion
    (--entry); check the log still extends the head saved in --state, then
    save the latest one there."""
    key = log_key(args.api, args.key)
    head = _head_fields(_public_get(args.api, "public/log/tree-head"), "the latest tree head")
    verify_tree_head(head, key, f"the tree head of {head['tree_size']} entries")
    print(f"OK tree head: {head['tree_size']} entries, root {head['root_hash']}, signed by the log's key")
    for index in args.entry or []:
        if index < 0:
            raise CliError("--entry must be at least 0")
        verify_entry(args.api, index, head)
    if args.state:
        state = Path(args.state)
        if state.exists():
            try:
                saved = json.loads(state.read_text())
                old = _head_fields(saved["tree_head"], f"the head saved in {state}")
            except (OSError, ValueError, KeyError, TypeError):
                raise CliError(f"{state} is not a state file this command wrote") from None
            verify_tree_head(old, key, f"the head saved in {state}")
            verify_consistent(args.api, old, head)
        else:
            print(f"no saved head in {state}: saving this one to check the next run against")
        _write_state(state, {"api": args.api, "key_id": dsse.keyid_of(key), "tree_head": head})
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    """Check an entry's SCITT receipt (COSE_Sign1, RFC 9942) against the
    entry's leaf and the log's key, from files or from the public API."""
    if not args.receipt and not (args.api and args.entry is not None):
        raise CliError("give --receipt FILE, or --api and --entry to fetch it")
    if not args.leaf and not (args.api and args.entry is not None):
        raise CliError("give --leaf FILE (the entry's leaf bytes), or --api and --entry to fetch it")
    if args.public_key:
        try:
            key = dsse.load_public_key_pem(Path(args.public_key).read_bytes())
        except (OSError, ValueError, TypeError) as e:
            raise CliError(f"cannot read the log's public key from {args.public_key}: {e}") from None
        if args.key_id and dsse.keyid_of(key) != args.key_id.lower():
            raise VerifyFailed(f"{args.public_key} is key {dsse.keyid_of(key)}, not {args.key_id}")
    elif args.api:
        key = log_key(args.api, args.key_id)
    else:
        raise CliError("give --public-key FILE, or --api to fetch the log's key (pinned with --key-id)")
    try:
        receipt = (
            Path(args.receipt).read_bytes()
            if args.receipt
            else _public_get(
                args.api,
                f"public/log/entries/{args.entry}/receipt",
                {"tree_size": args.tree_size} if args.tree_size else None,
                binary=True,
            )
        )
        if args.leaf:
            leaf = Path(args.leaf).read_bytes()
        else:
            entry = _public_get(args.api, f"public/log/entries/{args.entry}")
            leaf = base64.b64decode(entry.get("leaf") or "", validate=True)
    except OSError as e:
        raise CliError(str(e)) from None
    except ValueError:
        raise VerifyFailed("the entry's leaf is not base64") from None
    try:
        verified = scitt.receipt_verify(receipt, leaf=leaf, key=key)
    except scitt.ReceiptError as e:
        raise VerifyFailed(f"the receipt does not verify: {e}") from None
    if args.entry is not None and verified.leaf_index != args.entry:
        raise VerifyFailed(f"the receipt is for entry {verified.leaf_index}, not entry {args.entry}")
    print(
        f"OK receipt: entry {verified.leaf_index} is in the log of {verified.tree_size} entries, root "
        f"{verified.root.hex()}, signed by key {dsse.keyid_of(key)} (issuer {verified.issuer}, "
        f"subject {verified.subject})"
    )
    if args.api:
        head = _head_fields(
            _public_get(args.api, f"public/log/tree-heads/{verified.tree_size}"), "the receipt's tree head"
        )
        verify_tree_head(head, key, f"the tree head of {verified.tree_size} entries")
        if head["root_hash"] != verified.root.hex():
            raise VerifyFailed(f"the receipt's root is not the log's signed root for {verified.tree_size} entries")
        print(f"OK the receipt's root is the log's signed tree head of {verified.tree_size} entries")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stagegate-sign", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    k = sub.add_parser("keygen", help="generate an Ed25519 key pair")
    k.add_argument("--out", required=True, help="where to write the private key (PEM, mode 0600)")
    k.add_argument("--public-out", help="where to write the public key (default: key.pem -> key.pub.pem)")
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
    s.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed when not run from a terminal)"
    )
    s.add_argument("--save", help="also write the envelope to this file")
    s.set_defaults(func=cmd_sign)

    v = sub.add_parser("verify", help="verify an envelope offline")
    v.add_argument("--envelope", required=True)
    v.add_argument("--public-key", required=True, help="the signer's public key, PEM file")
    v.set_defaults(func=cmd_verify)

    def api(sp: argparse.ArgumentParser, *, token: bool = True) -> None:
        sp.add_argument("--api", required=True, help="the API base URL, e.g. https://stagegate.example/api")
        if token:
            sp.add_argument("--token", default=os.environ.get("STAGEGATE_TOKEN"), help="API token (or STAGEGATE_TOKEN)")

    a = sub.add_parser("audits", help="list your audits: the AUDIT_ID and SYSTEM_VERSION_ID to sign for")
    api(a)
    a.add_argument("--status", help="only audits in this state (open, closed, cancelled)")
    a.set_defaults(func=cmd_audits)

    ak = sub.add_parser("approve-key", help="regulator: approve a registered signing key")
    api(ak)
    ak.add_argument("--keyid", required=True, help="the key id the signer was shown by keygen and register")
    ak.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ak.set_defaults(func=cmd_approve_key)

    wk = sub.add_parser("whistle-keygen", help="regulator: generate the X25519 key whistleblower reports are sealed to")
    wk.add_argument("--out", required=True, help="where to write the private key (PEM, mode 0600)")
    wk.add_argument("--force", action="store_true")
    wk.set_defaults(func=cmd_whistle_keygen)

    wr = sub.add_parser("whistle-register", help="regulator: register the whistleblower public key")
    api(wr)
    wr.add_argument("--key", required=True, help="the private key file (only its public half is sent)")
    wr.set_defaults(func=cmd_whistle_register)

    wd = sub.add_parser("whistle-decrypt", help="regulator: fetch whistleblower reports and open them here")
    api(wd)
    wd.add_argument("--key", required=True, action="append", help="private key file; repeat for retired keys")
    wd.add_argument("--status", choices=("new", "triaged"), help="only reports in this state")
    wd.add_argument("--out", help="write each report to a file in this folder (mode 0600) instead of printing")
    wd.set_defaults(func=cmd_whistle_decrypt)

    ws = sub.add_parser("whistle-submit", help="whistleblower: seal a report here and submit it anonymously")
    api(ws, token=False)
    ws.add_argument("--file", required=True, help="the report, UTF-8 text ('-' for standard input)")
    ws.add_argument("--system-version", help="the system version id it is about (sent in clear)")
    ws.add_argument("--expect-keyid", help="refuse unless the regulator's key has this id")
    ws.set_defaults(func=cmd_whistle_submit)

    vl = sub.add_parser("verify-log", help="anyone: verify the public log (tree head, inclusion, consistency)")
    api(vl, token=False)
    vl.add_argument("--key", help="pin the log's key: its key id (64 hex digits) or its PEM public key file")
    vl.add_argument("--entry", type=int, action="append", help="also verify this entry's inclusion; repeat for more")
    vl.add_argument("--state", help="a file holding the last verified tree head: checked for consistency, then updated")
    vl.set_defaults(func=cmd_verify_log)

    vr = sub.add_parser("verify-receipt", help="anyone: verify an entry's SCITT receipt (COSE, RFC 9942)")
    vr.add_argument("--api", help="the API base URL, to fetch what is not given as a file")
    vr.add_argument("--entry", type=int, help="the entry's index (to fetch the receipt or leaf, and to check)")
    vr.add_argument("--tree-size", type=int, help="fetch the receipt for this tree size (default: the latest)")
    vr.add_argument("--receipt", help="the receipt file (COSE_Sign1 bytes)")
    vr.add_argument("--leaf", help="the entry's leaf bytes, a file")
    vr.add_argument("--public-key", help="the log's public key, PEM file")
    vr.add_argument("--key-id", help="pin the log's key id (64 hex digits)")
    vr.set_defaults(func=cmd_verify_receipt)
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
