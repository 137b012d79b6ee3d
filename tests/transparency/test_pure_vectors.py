"""core.canonical, core.dsse and core.merkle against published test vectors:
RFC 8785 (Appendix B numbers, §3.2.2 and §3.2.3 examples), the DSSE spec's PAE
example, and the Certificate Transparency reference tree (the 8 leaves whose
roots and proofs transparency-dev/merkle and certificate-transparency-go use).
Proofs are also checked against an independent RFC 6962 implementation written
here in the plainest recursive form of the RFC text."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import dsse, merkle
from core.canonical import canonical_json

# RFC 8785


@pytest.mark.parametrize(
    ("ieee", "expected"),
    [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_appendix_b_numbers(ieee: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(ieee))
    assert canonical_json(value) == expected.encode()


def test_rfc8785_section_3_2_2_example() -> None:
    doc = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    assert (
        canonical_json(doc)
        == (
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ).encode()
    )


def test_rfc8785_section_3_2_3_sorting() -> None:
    doc = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(doc)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


# DSSE


def test_dsse_pae_matches_the_spec_example() -> None:
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_dsse_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_dsse_sign_verify_round_trip_and_tampering() -> None:
    key = Ed25519PrivateKey.generate()
    env = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, b'{"a":1}', key)
    assert env.signatures[0].keyid == hashlib.sha256(dsse.raw_public_key(key.public_key())).hexdigest()
    parsed = dsse.envelope_from_json(env.to_json())
    assert parsed == env
    assert dsse.verify(parsed, key.public_key())
    # Another key, another payload, another payload type: all refused.
    assert not dsse.verify(parsed, Ed25519PrivateKey.generate().public_key())
    assert not dsse.verify(dsse.Envelope(env.payload_type, b'{"a":2}', env.signatures), key.public_key())
    assert not dsse.verify(dsse.Envelope("text/plain", env.payload, env.signatures), key.public_key())


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"payloadType": "x", "payload": "!!!", "signatures": [{"keyid": "", "sig": "AA=="}]},
        {"payloadType": "", "payload": "", "signatures": [{"keyid": "", "sig": "AA=="}]},
        {"payloadType": "x", "payload": "", "signatures": []},
        {"payloadType": "x", "payload": "", "signatures": ["sig"]},
    ],
)
def test_dsse_malformed_envelopes_are_refused(bad: object) -> None:
    with pytest.raises(dsse.EnvelopeError):
        dsse.envelope_from_dict(bad)


def test_keys_round_trip_through_pem() -> None:
    key = Ed25519PrivateKey.generate()
    pem = dsse.public_key_pem(key.public_key())
    assert dsse.keyid_of(dsse.load_public_key_pem(pem)) == dsse.keyid_of(key.public_key())
    assert dsse.keyid_of(dsse.load_private_key_pem(dsse.private_key_pem(key)).public_key()) == dsse.keyid_of(
        key.public_key()
    )
    with pytest.raises(ValueError):
        dsse.load_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


# RFC 6962: the Certificate Transparency reference tree

CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
CT_CONSISTENCY = [
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
HASHES = [merkle.leaf_hash(x) for x in CT_LEAVES]


# An independent RFC 6962 §2.1 implementation, straight from the RFC's text.


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """Recompute the root from an audit path by retracing the RFC's split."""
    if n == 1:
        assert not path
        return hashlib.sha256(b"\x00" + leaf).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    *rest, last = path
    if m < k:
        return hashlib.sha256(b"\x01" + ref_root_from_path(leaf, m, k, rest) + last).digest()
    return hashlib.sha256(b"\x01" + last + ref_root_from_path(leaf, m - k, n - k, rest)).digest()


def test_reference_roots() -> None:
    assert merkle.tree_hash([]) == hashlib.sha256(b"").digest()
    for n in range(1, 9):
        assert merkle.tree_hash(HASHES[:n]).hex() == CT_ROOTS[n - 1]
        assert ref_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    got = merkle.inclusion_proof(index, HASHES[:size])
    assert [h.hex() for h in got] == path
    assert merkle.verify_inclusion(HASHES[index], index, size, got, bytes.fromhex(CT_ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "proof"), CT_CONSISTENCY)
def test_reference_consistency_proofs(first: int, second: int, proof: list[str]) -> None:
    got = merkle.consistency_proof(first, HASHES[:second])
    assert [h.hex() for h in got] == proof
    assert merkle.verify_consistency(
        first, second, bytes.fromhex(CT_ROOTS[first - 1]), bytes.fromhex(CT_ROOTS[second - 1]), got
    )


LEAVES = [f"leaf {i}".encode() for i in range(70)]
LH = [merkle.leaf_hash(x) for x in LEAVES]


def test_every_proof_up_to_70_leaves_agrees_with_the_reference() -> None:
    for n in range(1, len(LEAVES) + 1):
        root = merkle.tree_hash(LH[:n])
        assert root == ref_mth(LEAVES[:n])
        for m in range(n):
            path = merkle.inclusion_proof(m, LH[:n])
            assert path == ref_path(m, LEAVES[:n])
            assert merkle.verify_inclusion(LH[m], m, n, path, root)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, LH[:n])
            assert proof == (ref_subproof(m, LEAVES[:n], True) if m < n else [])
            assert merkle.verify_consistency(m, n, merkle.tree_hash(LH[:m]), root, proof)


def test_tampered_proofs_fail() -> None:
    n = 13
    root = merkle.tree_hash(LH[:n])
    for m in range(n):
        path = merkle.inclusion_proof(m, LH[:n])
        bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not merkle.verify_inclusion(LH[m], m, n, bad, root)
        assert not merkle.verify_inclusion(LH[m], m, n, path[:-1], root)
        assert not merkle.verify_inclusion(LH[m], m, n, [*path, root], root)
        assert not merkle.verify_inclusion(LH[m], (m + 1) % n, n, path, root) or LH[m] == LH[(m + 1) % n]
        assert not merkle.verify_inclusion(LH[m], m, m, path, root)
    for m in range(1, n):
        proof = merkle.consistency_proof(m, LH[:n])
        first = merkle.tree_hash(LH[:m])
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not merkle.verify_consistency(m, n, first, root, bad)
        assert not merkle.verify_consistency(m, n, first, root, proof[:-1])
        assert not merkle.verify_consistency(m, n, root, root, proof)
    assert merkle.verify_consistency(4, 4, root, root, [])
    assert not merkle.verify_consistency(4, 4, root, merkle.EMPTY_ROOT, [])


def test_paths_retrace_to_the_root_in_the_reference() -> None:
    for n in (1, 2, 3, 7, 8, 9, 31):
        for m in range(n):
            path = merkle.inclusion_proof(m, LH[:n])
            assert ref_root_from_path(LEAVES[m], m, n, path) == ref_mth(LEAVES[:n])


def test_incremental_nodes_give_the_same_roots() -> None:
    nodes: dict[merkle.Node, bytes] = {}
    for i, h in enumerate(LH):
        for node, value in merkle.new_nodes(i, h, nodes.__getitem__):
            nodes[node] = value
        assert merkle.range_hash(0, i + 1, nodes.__getitem__) == ref_mth(LEAVES[: i + 1])
    # Two nodes per leaf at most, and proofs need only stored nodes.
    assert len(nodes) < 2 * len(LH)
    ranges = merkle.inclusion_ranges(37, 70)
    assert merkle.hashes_from(ranges, nodes) == ref_path(37, LEAVES)


def test_out_of_range_requests_raise() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(5, 3)
