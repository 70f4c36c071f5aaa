"""Check an audit receipt of Xinzheng offline, against the audit public key alone.

    python tools/verify_receipt.py --public-key audit.pub.pem receipt.json

`receipt.json` is the `auditReceipt` object (or a whole GraphQL response holding one). Checked:
the checkpoint is a C2SP signed note whose signature by the key verifies (key name = origin,
key id = SHA-256(name || 0x0A || 0x01 || key)[:4]), its size and root are the receipt's, and
the inclusion proof (RFC 9162 section 2.1.3.2) leads from the leaf hash at leafIndex to that
root. Exit 0 and one line when valid; exit 1 and the reason when not. Standard library and
`cryptography` only: nothing of the service is imported.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    pass


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    if not 0 <= index < size:
        raise Invalid(f"leaf {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Invalid("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise Invalid("the inclusion proof is too short")
    return r


def open_note(note: str, key: Ed25519PublicKey) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note that `key` signed under its origin's name."""
    text, sep, signatures = note.rpartition("\n\n")
    lines = (text + "\n").splitlines()
    if not sep or len(lines) < 3 or not lines[1].isdigit():
        raise Invalid("the checkpoint is not a signed note of origin, tree size and root hash")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
    for line in signatures.splitlines():
        name, _, b64 = line.removeprefix("\u2014 ").partition(" ")
        blob = base64.b64decode(b64, validate=True)
        if line.startswith("\u2014 ") and name == origin and blob[:4] == key_id:
            try:
                key.verify(blob[4:], (text + "\n").encode())
            except InvalidSignature:
                raise Invalid("the checkpoint's signature does not verify with this key") from None
            return origin, size, root
    raise Invalid(f"the checkpoint carries no signature of {origin} by this key")


def check(receipt: dict, key: Ed25519PublicKey) -> str:
    origin, size, root = open_note(receipt["checkpoint"], key)
    if size != receipt["treeSize"] or root.hex() != receipt["rootHash"]:
        raise Invalid("the receipt's treeSize or rootHash is not the signed checkpoint's")
    if receipt["leafIndex"] != receipt["seq"] - 1:
        raise Invalid("leafIndex is not seq - 1")
    proof = [bytes.fromhex(h) for h in receipt["inclusionProof"]]
    computed = root_from_inclusion(bytes.fromhex(receipt["leafHash"]), receipt["leafIndex"], size, proof)
    if computed != root:
        raise Invalid("the inclusion proof does not lead to the signed root")
    return f"receipt valid: entry {receipt['seq']} is leaf {receipt['leafIndex']} of the tree of {size} signed by {origin}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a Xinzheng audit receipt against the audit public key.")
    parser.add_argument("receipt", help="the auditReceipt JSON (or a GraphQL response holding it); - for stdin")
    parser.add_argument("--public-key", required=True, help="the audit public key, PEM (Ed25519)")
    args = parser.parse_args(argv)
    try:
        with open(args.public_key, "rb") as f:
            key = serialization.load_pem_public_key(f.read())
        if not isinstance(key, Ed25519PublicKey):
            raise Invalid("the public key is not Ed25519")
        text = sys.stdin.read() if args.receipt == "-" else open(args.receipt, encoding="utf-8").read()
        receipt = json.loads(text)
        receipt = receipt.get("data", {}).get("auditReceipt", receipt) if "data" in receipt else receipt
        print(check(receipt, key))
        return 0
    except (Invalid, OSError, ValueError, KeyError, TypeError) as e:
        print(f"receipt invalid: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
