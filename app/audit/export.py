"""The audit export: JSONL that anyone can verify on its own, with no access to the database.

Line 1 is the header: the format and its version, the audit public key (Ed25519, raw, base64url
without padding) and its key id, the number of entries and checkpoints that follow and the
chain's head. Then every entry in seq order, in the names the API shows (`at` as
`chain.timestamp` text, exactly what the hash covers), then every signed checkpoint: since
version 2 with its `rootHash` and signed `note` (both null for a checkpoint from before the
Merkle tree); version 1 files, which have neither, are still read. Each line names what it is
in `kind`, as the import files do.

The header is not signed: what makes the file trustworthy is the chain and the checkpoint
signatures, checked against a key the verifier trusts. The counts and head in the header only
catch a file cut short by accident.

Pure code: writing is one line at a time, reading is a generator, so neither holds the log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit import keys
from app.audit.chain import HASHED_FIELDS, timestamp

FORMAT = "xinzheng-audit-export"
VERSION = 2
VERSIONS = (1, 2)  # read
ENTRY_FIELDS = frozenset((*HASHED_FIELDS, "hash"))
CHECKPOINT_FIELDS_V1 = frozenset(("seq", "headHash", "at", "keyId", "signature"))
CHECKPOINT_FIELDS = CHECKPOINT_FIELDS_V1 | {"rootHash", "note"}


class ExportError(Exception):
    """The file is not a well-formed audit export; names the line."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Header:
    public_key: Ed25519PublicKey
    key_id: str
    entries: int
    checkpoints: int
    head_seq: int | None
    head_hash: str | None
    version: int = VERSION


def encode_key(key: Ed25519PublicKey) -> str:
    return base64.urlsafe_b64encode(keys.public_raw(key)).decode().rstrip("=")


def decode_key(text: str) -> Ed25519PublicKey:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def header_line(key: Ed25519PublicKey, *, entries: int, checkpoints: int, head_seq: int | None, head_hash: str | None) -> str:
    return _line(
        {
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "publicKey": encode_key(key),
            "keyId": keys.key_id(key),
            "entries": entries,
            "checkpoints": checkpoints,
            "headSeq": head_seq,
            "headHash": head_hash,
        }
    )


def entry_line(entry: Mapping[str, Any]) -> str:
    """An entry as `store.from_row` gives it, its timestamp as the text the hash covers."""
    at = entry["at"]
    return _line({"kind": "entry", **{k: entry[k] for k in ENTRY_FIELDS}, "at": at if isinstance(at, str) else timestamp(at)})


def checkpoint_line(checkpoint: Mapping[str, Any]) -> str:
    """A checkpoint as `verify.checkpoint_rows` gives it."""
    at = checkpoint["at"]
    body = {k: checkpoint[k] for k in CHECKPOINT_FIELDS}
    return _line({"kind": "checkpoint", **body, "at": at if isinstance(at, str) else timestamp(at)})


# Reading. A file is read twice: once for the header and the checkpoints (which come last but
# are needed first), once for the entries, streamed into the verifier.


def _records(file: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in enumerate(file, start=1):
        if not text.strip():
            raise ExportError(number, "an empty line")
        try:
            record = json.loads(text)
        except ValueError:
            raise ExportError(number, "not valid JSON") from None
        except RecursionError:  # arrays or objects nested past Python's recursion limit
            raise ExportError(number, "not valid JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise ExportError(number, "not a JSON object")
        yield number, record


def _header(number: int, record: dict[str, Any]) -> Header:
    if record.get("kind") != "header" or record.get("format") != FORMAT:
        raise ExportError(number, f"not an audit export (the first line must be the {FORMAT} header)")
    version = record.get("version")
    if version not in VERSIONS:
        raise ExportError(number, f"export format version {version!r}; this verifier reads versions 1 and 2")
    try:
        key = decode_key(record["publicKey"])
    except (KeyError, TypeError, ValueError):
        raise ExportError(number, "the header's publicKey is not an Ed25519 public key") from None
    key_id = record.get("keyId")
    if key_id != keys.key_id(key):
        raise ExportError(number, "the header's keyId is not the id of its publicKey")
    entries, checkpoints = record.get("entries"), record.get("checkpoints")
    if not (type(entries) is int and type(checkpoints) is int and entries >= 0 and checkpoints >= 0):
        raise ExportError(number, "the header's entries and checkpoints must be counts")
    return Header(key, key_id, entries, checkpoints, record.get("headSeq"), record.get("headHash"), version)


def _checked(number: int, record: dict[str, Any], fields: frozenset[str], what: str) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if k != "kind"}
    seq = body.get("seq")
    name = f"{what} {seq}" if type(seq) is int else what
    if type(seq) is not int:
        raise ExportError(number, f"the {what} has no whole-number seq")
    missing, extra = sorted(fields - body.keys()), sorted(body.keys() - fields)
    if missing:
        raise ExportError(number, f"{name} lacks {', '.join(missing)}")
    if extra:
        raise ExportError(number, f"{name} has fields the chain does not cover: {', '.join(extra)}")
    return body


def read_header_and_checkpoints(path: Path) -> tuple[Header, list[dict[str, Any]]]:
    """The header and every checkpoint; checks the order of the lines (header, entries, checkpoints)."""
    header: Header | None = None
    signed: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as file:
        for number, record in _records(file):
            if header is None:
                header = _header(number, record)
                continue
            kind = record.get("kind")
            if kind == "checkpoint":
                fields = CHECKPOINT_FIELDS if header.version >= 2 else CHECKPOINT_FIELDS_V1
                signed.append({"rootHash": None, "note": None, **_checked(number, record, fields, "checkpoint")})
            elif kind == "entry":
                if signed:
                    raise ExportError(number, "an entry after the checkpoints (entries come first)")
            else:
                raise ExportError(number, f"unknown kind {kind!r} (entry or checkpoint)")
    if header is None:
        raise ExportError(1, "the file is empty")
    return header, signed


def read_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, entry) for every entry line, in file order. Raises ExportError on a bad line."""
    with path.open(encoding="utf-8") as file:
        for number, record in _records(file):
            if number > 1 and record.get("kind") == "entry":
                yield number, _checked(number, record, ENTRY_FIELDS, "entry")
