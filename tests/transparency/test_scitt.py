"""SCITT receipts (COSE Receipts, RFC 9942; RFC 9943): the CBOR codec against
RFC 8949 Appendix A, receipts that verify for every leaf of trees of many
sizes, every tampered part refused, and the receipt each log entry is served
with verifying against the published key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import dsse, merkle
from tests.factories import OrganisationFactory
from transparency import scitt
from transparency.scitt import CborError, ReceiptError, Tag, cbor_decode, cbor_encode
from transparency.services import log_append

# RFC 8949 Appendix A (the examples without floats or indefinite lengths).
VECTORS = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (bytes.fromhex("01020304"), "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"}, "a56161614161626142616361436164614461656145"),
    (Tag(1, 1363896240), "c11a514b67b0"),
    (Tag(23, bytes.fromhex("01020304")), "d74401020304"),
    (Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
]


@pytest.mark.parametrize(("value", "hex_"), VECTORS)
def test_cbor_matches_rfc_8949_appendix_a(value, hex_):
    assert cbor_encode(value).hex() == hex_
    assert cbor_decode(bytes.fromhex(hex_)) == value


def test_map_keys_are_sorted_by_their_encoding():
    # RFC 8949 §4.2.1: bytewise order of the encoded keys, whatever order they come in.
    assert cbor_encode({"b": 1, 10: 2, -1: 3, "a": 4, 100: 5}).hex() == "a50a021864052003616104616201"
    assert cbor_encode({396: 0, 1: 0, 395: 0, -8: 0, 4: 0}) == cbor_encode({-8: 0, 4: 0, 1: 0, 396: 0, 395: 0})


@pytest.mark.parametrize(
    "hex_",
    [
        "1817",  # 23 in two bytes: not the shortest form
        "190017",
        "9f01ff",  # indefinite-length array
        "5f4101ff",  # indefinite-length byte string
        "0101",  # trailing bytes
        "a201010102",  # duplicate map key
        "f93c00",  # a float
        "62c3",  # truncated
        "61ff",  # not UTF-8
        "8" + "1" * 1,  # truncated array
    ],
)
def test_the_decoder_refuses_what_is_not_plain_definite_cbor(hex_):
    with pytest.raises(CborError):
        cbor_decode(bytes.fromhex(hex_ if len(hex_) % 2 == 0 else hex_ + "0"))


def test_the_decoder_bounds_nesting():
    with pytest.raises(CborError):
        cbor_decode(bytes.fromhex("81" * 40 + "00"))


def _tree(n: int) -> tuple[list[bytes], list[bytes]]:
    leaves = [f'{{"index":{i}}}'.encode() for i in range(n)]
    return leaves, [merkle.leaf_hash(x) for x in leaves]


def _receipt(key: Ed25519PrivateKey, hashes: list[bytes], index: int, **over) -> bytes:
    args = {
        "key": key,
        "issuer": "stagegate",
        "subject": f"entry {index}",
        "issued_at": 1_700_000_000,
        "tree_size": len(hashes),
        "leaf_index": index,
        "audit_path": merkle.inclusion_proof(index, hashes),
        "root": merkle.tree_hash(hashes),
    }
    args.update(over)
    return scitt.receipt_build(**args)


def test_a_receipt_verifies_for_every_leaf_of_trees_of_many_sizes():
    key = Ed25519PrivateKey.generate()
    for n in range(1, 18):
        leaves, hashes = _tree(n)
        for i in range(n):
            v = scitt.receipt_verify(_receipt(key, hashes, i), leaf=leaves[i], key=key.public_key())
            assert (v.tree_size, v.leaf_index, v.root) == (n, i, merkle.tree_hash(hashes))
            assert (v.issuer, v.subject, v.issued_at) == ("stagegate", f"entry {i}", 1_700_000_000)
            # The proof is for this leaf only.
            if n > 1:
                with pytest.raises(ReceiptError):
                    scitt.receipt_verify(_receipt(key, hashes, i), leaf=leaves[(i + 1) % n], key=key.public_key())


def test_the_receipt_has_the_structure_rfc_9942_defines():
    key = Ed25519PrivateKey.generate()
    _, hashes = _tree(6)
    outer = cbor_decode(_receipt(key, hashes, 4))
    assert isinstance(outer, Tag) and outer.tag == 18
    protected_raw, unprotected, payload, signature = outer.value
    protected = cbor_decode(protected_raw)
    assert protected[1] == -8 and protected[395] == 1
    assert protected[4] == scitt.kid_of(key.public_key())
    assert protected[15][1] == "stagegate" and protected[15][2] == "entry 4"
    assert cbor_encode(protected) == protected_raw  # deterministic
    assert payload is None and len(signature) == 64
    assert set(unprotected) == {396} and set(unprotected[396]) == {-1}
    [proof] = unprotected[396][-1]
    assert cbor_decode(proof) == [6, 4, merkle.inclusion_proof(4, hashes)]
    # Signed over the Sig_structure with the tree head as the detached payload (RFC 9052 §4.4).
    key.public_key().verify(signature, cbor_encode(["Signature1", protected_raw, b"", merkle.tree_hash(hashes)]))


def _rebuild(receipt: bytes, *, protected=None, unprotected=None, payload="keep", signature=None) -> bytes:
    outer = cbor_decode(receipt)
    p, u, pl, s = outer.value
    return cbor_encode(
        Tag(
            18,
            [
                p if protected is None else protected,
                u if unprotected is None else unprotected,
                pl if payload == "keep" else payload,
                s if signature is None else signature,
            ],
        )
    )


def test_every_tampered_part_of_a_receipt_is_refused():
    key = Ed25519PrivateKey.generate()
    leaves, hashes = _tree(9)
    good = _receipt(key, hashes, 5)
    outer = cbor_decode(good)
    protected_raw, unprotected, _, signature = outer.value
    [proof_raw] = unprotected[396][-1]
    size, index, path = cbor_decode(proof_raw)

    def proof(s=size, i=index, p=path):
        return {396: {-1: [cbor_encode([s, i, p])]}}

    flipped = bytearray(signature)
    flipped[10] ^= 1
    bent = list(path)
    bent[0] = bytes([bent[0][0] ^ 1]) + bent[0][1:]
    other_header = cbor_encode({**cbor_decode(protected_raw), 15: {1: "someone else", 2: "entry 5"}})
    cases = {
        "signature": _rebuild(good, signature=bytes(flipped)),
        "a path hash": _rebuild(good, unprotected=proof(p=bent)),
        "a shorter path": _rebuild(good, unprotected=proof(p=path[:-1])),
        # (A tree size with the same path shape, 9 -> 10 here, leads to the
        # same root: the size is not signed, the root is. verify-receipt
        # checks the root against the signed tree head of the size claimed.)
        "the tree size": _rebuild(good, unprotected=proof(s=size - 3)),
        "a larger tree size": _rebuild(good, unprotected=proof(s=size + 8)),
        "the leaf index": _rebuild(good, unprotected=proof(i=index - 1)),
        "an index past the tree": _rebuild(good, unprotected=proof(i=size)),
        "the protected header": _rebuild(good, protected=other_header),
        "an attached payload that is not the root": _rebuild(good, payload=b"\x00" * 32),
        "two proofs": _rebuild(good, unprotected={396: {-1: [proof_raw, proof_raw]}}),
        "no proof": _rebuild(good, unprotected={}),
        "not tagged 18": cbor_encode(outer.value),
        "not CBOR": good[:-3],
    }
    for what, receipt in cases.items():
        try:
            scitt.receipt_verify(receipt, leaf=leaves[5], key=key.public_key())
        except ReceiptError:
            continue
        pytest.fail(f"accepted a receipt with {what} changed")
    # Another key, and the right leaf changed by one byte.
    with pytest.raises(ReceiptError):
        scitt.receipt_verify(good, leaf=leaves[5], key=Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ReceiptError):
        scitt.receipt_verify(good, leaf=leaves[5] + b" ", key=key.public_key())
    # An attached payload equal to the root is fine (detached is what we serve).
    root = merkle.tree_hash(hashes)
    assert scitt.receipt_verify(_rebuild(good, payload=root), leaf=leaves[5], key=key.public_key()).root == root


def test_a_receipt_naming_another_algorithm_or_structure_is_refused_even_if_signed():
    key = Ed25519PrivateKey.generate()
    leaves, hashes = _tree(4)
    root = merkle.tree_hash(hashes)
    for header in ({1: -7, 395: 1}, {1: -8, 395: 2}, {1: -8}, {1: -8, 395: 1, 396: {}}):
        protected = cbor_encode(header)
        proof = cbor_encode([4, 2, merkle.inclusion_proof(2, hashes)])
        sig = key.sign(scitt.sig_structure(protected, root))
        receipt = cbor_encode(Tag(18, [protected, {396: {-1: [proof]}}, None, sig]))
        with pytest.raises(ReceiptError):
            scitt.receipt_verify(receipt, leaf=leaves[2], key=key.public_key())


@pytest.mark.django_db
def test_each_entry_is_served_with_a_receipt_that_verifies_with_the_published_key(api):
    org = OrganisationFactory()
    for i in range(7):
        log_append(kind="test.entry", record={"n": i}, subject=org)
    published = api.get("/api/public/log/key").json()
    key = dsse.load_public_key_pem(published["public_key"])
    for index in range(7):
        leaf = base64.b64decode(api.get(f"/api/public/log/entries/{index}").json()["leaf"])
        for tree_size in (None, index + 1):
            url = f"/api/public/log/entries/{index}/receipt" + (f"?tree_size={tree_size}" if tree_size else "")
            r = api.get(url)
            assert r.status_code == 200 and r["Content-Type"].startswith("application/cose")
            v = scitt.receipt_verify(r.content, leaf=leaf, key=key)
            head = api.get(f"/api/public/log/tree-heads/{v.tree_size}").json()
            assert v.tree_size == (tree_size or 7) and v.leaf_index == index and v.root.hex() == head["root_hash"]
            assert v.kid == bytes.fromhex(published["key_id"])
            assert v.issued_at == head["timestamp"] // 1000
    asked = api.get("/api/public/log/entries/3/receipt", HTTP_ACCEPT="application/scitt-receipt+cose")
    assert asked["Content-Type"] == "application/scitt-receipt+cose"
    assert api.get("/api/public/log/entries/7/receipt").status_code == 404
    assert api.get("/api/public/log/entries/3/receipt?tree_size=3").status_code == 400
    assert api.get("/api/public/log/entries/3/receipt?tree_size=x").status_code == 400
