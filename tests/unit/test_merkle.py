"""The Merkle tree and its proofs, held to RFC 9162's recursive definitions written out plainly,
and checkpoints as C2SP signed notes. Pure: no database.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import note
from app.audit.merkle import (
    EMPTY_ROOT, Frontier, consistency, inclusion, leaf_hash, needed, node_hash, verify_consistency, verify_inclusion,
)

LEAVES = [leaf_hash(str(i).encode()) for i in range(301)]


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 section 2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.3.1."""
    if len(leaves) <= 1:
        return []
    k = split(len(leaves))
    return [*path(m, leaves[:k]), mth(leaves[k:])] if m < k else [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), section 2.1.4.1."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


@pytest.fixture(scope="module")
def stored() -> dict[tuple[int, int], bytes]:
    """Every complete subtree, as the append stores them."""
    frontier, nodes = Frontier(), {}
    for i, leaf in enumerate(LEAVES):
        nodes.update({(lv, ix): h for lv, ix, h in frontier.append(leaf)})
        assert frontier.root() == mth(LEAVES[: i + 1])
        assert [nodes[n] for n in Frontier.nodes(i + 1)] == frontier.roots
    return nodes


def test_leaves_and_nodes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert Frontier().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


SIZES = [*range(1, 40), 63, 64, 65, 127, 128, 129, 255, 256, 257, 300]


@pytest.mark.parametrize("n", SIZES)
def test_inclusion_proofs_are_rfc_9162s_and_verify(stored: dict[tuple[int, int], bytes], n: int) -> None:
    for m in range(n):
        proof = inclusion(m, n, stored.__getitem__)
        assert proof == path(m, LEAVES[:n])
        assert verify_inclusion(LEAVES[m], m, n, proof, mth(LEAVES[:n]))
        assert not verify_inclusion(LEAVES[m], m, n, proof, mth(LEAVES[: n + 1]))
        assert not verify_inclusion(LEAVES[m], m, n, proof[:-1], mth(LEAVES[:n])) or n == 1
        assert not verify_inclusion(LEAVES[(m + 1) % 301], m, n, proof, mth(LEAVES[:n]))
        assert len(needed(lambda get, m=m: inclusion(m, n, get))) <= 2 * n.bit_length()


@pytest.mark.parametrize("n", SIZES)
def test_consistency_proofs_are_rfc_9162s_and_verify(stored: dict[tuple[int, int], bytes], n: int) -> None:
    for m in range(n + 1):
        proof = consistency(m, n, stored.__getitem__)
        if 0 < m < n:
            assert proof == subproof(m, LEAVES[:n], True)
            assert not verify_consistency(m, n, mth(LEAVES[:m]), mth(LEAVES[1 : n + 1]), proof)
        assert verify_consistency(m, n, mth(LEAVES[:m]), mth(LEAVES[:n]), proof)


def test_a_proof_at_a_million_leaves_reads_a_few_nodes() -> None:
    assert len(needed(lambda get: inclusion(123_456, 1_000_000, get))) <= 40
    assert len(needed(lambda get: consistency(777_777, 1_000_000, get))) <= 40


def test_a_checkpoint_is_a_signed_note_with_its_key_id() -> None:
    key = Ed25519PrivateKey.generate()
    root = bytes(range(32))
    signed = note.sign(note.checkpoint_text("example.gov.cn/audit", 42, root), "example.gov.cn/audit", key)
    text, signature = signed.split("\n\n")
    assert text == f"example.gov.cn/audit\n42\n{base64.b64encode(root).decode()}"
    name, blob = signature.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    assert name == "example.gov.cn/audit" and len(raw) == 68
    assert raw[:4] == hashlib.sha256(b"example.gov.cn/audit\n\x01" + note.raw(key.public_key())).digest()[:4]
    checkpoint = note.open_checkpoint(signed, "example.gov.cn/audit", key.public_key())
    assert (checkpoint.size, checkpoint.root) == (42, root)
    with pytest.raises(note.NoteError):
        note.open_checkpoint(signed, "example.gov.cn/audit", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(note.NoteError):
        note.open_checkpoint(signed.replace("\n42\n", "\n43\n"), "example.gov.cn/audit", key.public_key())


def test_a_cosignature_is_timestamped_and_commits_to_the_checkpoint() -> None:
    log, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = note.sign(note.checkpoint_text("log", 7, bytes(32)), "log", log)
    cosigned = note.cosign(signed, "w", witness, 1_700_000_000)
    assert note.cosigned_at(cosigned, "w", witness.public_key()) == 1_700_000_000
    blob = base64.b64decode(cosigned.splitlines()[-1].split(" ")[2])
    assert blob[:4] == hashlib.sha256(b"w\n\x04" + note.raw(witness.public_key())).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1_700_000_000
    witness.public_key().verify(blob[12:], b"cosignature/v1\ntime 1700000000\nlog\n7\n" + base64.b64encode(bytes(32)) + b"\n")
    assert note.open_checkpoint(cosigned, "log", log.public_key()).size == 7  # the log's own signature still holds
    with pytest.raises(note.NoteError):
        note.cosigned_at(cosigned.replace("time", "tyme"), "w", Ed25519PrivateKey.generate().public_key())
