"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, tlog-checkpoint, tlog-cosignature).

A checkpoint's text is three lines, the log's origin, the tree size and the base64 root hash;
then a blank line and one signature line per signer: "— <name> base64(key id || signature)".
The log signs with its audit key (Ed25519, signature type 0x01, over the text); a witness adds a
timestamped cosignature (cosignature/v1, type 0x04, over "cosignature/v1\\ntime <t>\\n" and the
text). A key id is the first 4 bytes of SHA-256(name || 0x0A || type || raw public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DASH = "\u2014"  # the em dash that begins a signature line
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 16


class NoteError(ValueError):
    """Not a well-formed checkpoint, or not signed by the key asked for."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str  # the note text the signatures cover: three lines, each ending in a newline


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    blob: bytes  # what follows the key id: the signature (a cosignature: timestamp first)


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, kind: int, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw(key)).digest()[:4]


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    if not origin or any(c.isspace() or c == "+" for c in origin):
        raise NoteError(f"the origin {origin!r} must be non-empty, without spaces or '+'")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def signature_line(name: str, kid: bytes, blob: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(kid + blob).decode()}\n"


def sign(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """The signed note: the text, a blank line, the signature of `key` under `name`."""
    return text + "\n" + signature_line(name, key_id(name, ED25519, key.public_key()), key.sign(text.encode()))


def cosignature_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosign(note: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The note with one more signature line: `key`'s cosignature/v1 of its checkpoint at `timestamp`."""
    checkpoint, _ = parse(note)
    blob = struct.pack(">Q", timestamp) + key.sign(cosignature_message(checkpoint.text, timestamp))
    return note + signature_line(name, key_id(name, COSIGNATURE_V1, key.public_key()), blob)


def parse(note: str) -> tuple[Checkpoint, list[Signature]]:
    """The checkpoint and the signature lines of a note (none of them checked yet)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters but newlines")
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not note.endswith("\n"):
        raise NoteError("a note is its text, a blank line and signature lines, each ending in a newline")
    text += "\n"
    lines = text.splitlines()
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
    origin, size_line, root_line = lines[:3]
    if not size_line.isascii() or not size_line.isdigit() or (size_line != "0" and size_line.startswith("0")):
        raise NoteError(f"the tree size {size_line!r} is not a decimal number")
    try:
        root = base64.b64decode(root_line, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != 32 or not origin:
        raise NoteError("a checkpoint names an origin and a 32-byte root hash")
    signatures = []
    for line in sigs.splitlines():
        name, _, b64 = line.removeprefix(f"{DASH} ").partition(" ")
        if not line.startswith(f"{DASH} ") or not name or " " in b64:
            raise NoteError(f"not a signature line: {line!r}")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError(f"the signature of {name} is not base64") from None
        if len(blob) < 5:
            raise NoteError(f"the signature of {name} is too short")
        signatures.append(Signature(name, blob[:4], blob[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    return Checkpoint(origin, int(size_line), root, text), signatures


def open_checkpoint(note: str, name: str, key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint of a note that `key` signed under `name` (its origin must be `name`)."""
    checkpoint, signatures = parse(note)
    kid = key_id(name, ED25519, key)
    mine = [s for s in signatures if s.name == name and s.key_id == kid]
    if not mine:
        raise NoteError(f"the checkpoint is not signed by {name}'s key")
    try:
        for s in mine:
            key.verify(s.blob, checkpoint.text.encode())
    except InvalidSignature:
        raise NoteError(f"the checkpoint's signature by {name} does not verify") from None
    if checkpoint.origin != name:
        raise NoteError(f"the checkpoint is of {checkpoint.origin!r}, not {name!r}")
    return checkpoint


def cosigned_at(note: str, name: str, key: Ed25519PublicKey) -> int:
    """The time (POSIX seconds) of `key`'s valid cosignature of the note under `name`."""
    checkpoint, signatures = parse(note)
    kid = key_id(name, COSIGNATURE_V1, key)
    for s in signatures:
        if s.name == name and s.key_id == kid and len(s.blob) == 72:
            (timestamp,) = struct.unpack(">Q", s.blob[:8])
            try:
                key.verify(s.blob[8:], cosignature_message(checkpoint.text, timestamp))
            except InvalidSignature:
                raise NoteError(f"the cosignature by {name} does not verify") from None
            return int(timestamp)
    raise NoteError(f"the checkpoint carries no cosignature by {name}")
