"""A witness of the audit log: a separate process, its own key, its own state directory.

Each round it fetches the log's newest checkpoint over HTTP (`GET /audit/checkpoint`, app/audit/
endpoints.py), checks the log's signature on it, and checks that it extends the last checkpoint
it cosigned (`GET /audit/consistency?from=&to=`, RFC 9162 consistency proof). Only then does it
cosign it (C2SP tlog-cosignature, cosignature/v1: Ed25519 over "cosignature/v1", the time and
the checkpoint) and keep the cosigned note as its new state. A log that shrank, forked (another
root at a size it cosigned) or cannot prove consistency is refused, and the witness stops with
the reason: that is what it is for. `xinzheng audit verify --witness DIR` then checks the
database's log against the checkpoint in DIR (app/cli/audit.py).

State directory: `witness-key.pem` (its private key, made at first run, mode 0600),
`witness.pub.pem` (its public key, for whoever checks its cosignatures), `config.json` (the
log's origin and public key, and the witness's name), `checkpoint` (the last cosigned note).
The witness never needs a token of the service: what it reads is public and holds no personal data.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.audit import note
from app.audit.chain import Break
from app.audit.merkle import verify_consistency

DEFAULT_NAME = "xinzheng/witness"
TIMEOUT = 10.0
# A checkpoint's note or a consistency proof is a few KB: a log that sends more is not read further
# (the witness watches a log it does not trust, and must not be made to hold whatever it sends).
MAX_BODY = 1 << 20


class WitnessError(Exception):
    """A round could not be completed (the log is unreachable, or the state directory unusable)."""


class Inconsistent(WitnessError):
    """The log is not the log the witness saw: it shrank, forked or cannot prove it extends it."""


@dataclass(frozen=True)
class State:
    directory: Path
    name: str
    origin: str | None
    log_key: Ed25519PublicKey
    key: Ed25519PrivateKey
    last: str | None  # the last cosigned note


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Whole or not at all: a crash never leaves half a state file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _raw(key: Ed25519PublicKey) -> str:
    return base64.b64encode(note.raw(key)).decode()


def load(directory: Path, *, log_key: Ed25519PublicKey | None = None, name: str | None = None) -> State:
    """The witness's state; made at first use, which needs the log's public key."""
    config_file, key_file = directory / "config.json", directory / "witness-key.pem"
    if not config_file.exists():
        if log_key is None:
            raise WitnessError(f"{directory} is not a witness's state yet: give the log's public key (--log-public-key)")
        directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        _write(key_file, pem.decode(), 0o600)
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        _write(directory / "witness.pub.pem", public.decode())
        _write(config_file, json.dumps({"name": name or DEFAULT_NAME, "origin": None, "logKey": _raw(log_key)}))
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        stored_log_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(config["logKey"]))
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WitnessError(f"{directory}: not a usable witness state ({type(e).__name__}: {e})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise WitnessError(f"{key_file}: not an Ed25519 private key")
    key = loaded
    if log_key is not None and note.raw(log_key) != note.raw(stored_log_key):
        raise WitnessError(f"{directory} witnesses a log with another public key")
    if name is not None and name != config["name"]:
        raise WitnessError(f"{directory} is the witness {config['name']!r}, not {name!r}")
    last_file = directory / "checkpoint"
    last = last_file.read_text(encoding="utf-8") if last_file.exists() else None
    return State(directory, config["name"], config.get("origin"), stored_log_key, key, last)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            status, body = int(response.status), response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read(MAX_BODY + 1)
    except (urllib.error.URLError, OSError) as e:
        raise WitnessError(f"{url}: {getattr(e, 'reason', e)}") from None
    if len(body) > MAX_BODY:
        raise WitnessError(f"{url}: answered more than {MAX_BODY:,} bytes")
    return status, body


def witness_once(state: State, base_url: str, *, now: int | None = None) -> str:
    """One round: fetch, check, cosign. Returns what happened, in a line; raises Inconsistent."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise WitnessError(f"{base_url}: the log's URL must be http:// or https://")
    status, body = _get(f"{base_url.rstrip('/')}/audit/checkpoint")
    if status == 404:
        return "the log has signed no checkpoint yet"
    if status != 200:
        raise WitnessError(f"GET /audit/checkpoint answered {status}")
    fetched = body.decode("utf-8", errors="replace")
    try:
        origin = state.origin or note.parse(fetched)[0].origin
        new = note.open_checkpoint(fetched, origin, state.log_key)
    except note.NoteError as e:
        raise Inconsistent(f"the log's newest checkpoint is not valid: {e}") from None
    if state.last is not None:
        old, _ = note.parse(state.last)
        if new.size < old.size:
            raise Inconsistent(f"the log shrank: it signed {new.size} entries, after {old.size} that this witness cosigned")
        if new.size == old.size:
            if new.root != old.root:
                raise Inconsistent(f"the log forked: another root at size {new.size}, which this witness cosigned")
            return f"nothing new: {origin} at size {new.size} is cosigned already"
        query = urllib.parse.urlencode({"from": old.size, "to": new.size})
        status, body = _get(f"{base_url.rstrip('/')}/audit/consistency?{query}")
        if status != 200:
            raise Inconsistent(f"the log gives no consistency proof from {old.size} to {new.size} (HTTP {status})")
        try:
            proof = [bytes.fromhex(h) for h in json.loads(body)["consistencyProof"]]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise Inconsistent("the log's consistency proof is malformed") from None
        if not verify_consistency(old.size, new.size, old.root, new.root, proof):
            raise Inconsistent(f"the log at {new.size} does not extend the log at {old.size} that this witness cosigned")
    cosigned = note.cosign(fetched, state.name, state.key, int(time.time()) if now is None else now)
    _write(state.directory / "checkpoint", cosigned)
    if state.origin is None:
        config = json.loads((state.directory / "config.json").read_text(encoding="utf-8"))
        _write(state.directory / "config.json", json.dumps({**config, "origin": origin}))
    return f"cosigned {origin} at size {new.size}"


@dataclass(frozen=True)
class Witnessed:
    """What a witness's state says it saw: the cosigned checkpoint, checked."""

    name: str
    checkpoint: note.Checkpoint
    cosigned_at: int


def witnessed(directory: Path, log_key: Ed25519PublicKey) -> Witnessed | None:
    """The witness's last cosigned checkpoint, both signatures checked (None: it cosigned none).
    Reads only the public parts of the state: its name, public key and checkpoint."""
    try:
        name = json.loads((directory / "config.json").read_text(encoding="utf-8"))["name"]
        public = serialization.load_pem_public_key((directory / "witness.pub.pem").read_bytes())
        last_file = directory / "checkpoint"
        last = last_file.read_text(encoding="utf-8") if last_file.exists() else None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WitnessError(f"{directory}: not a witness's state ({type(e).__name__}: {e})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise WitnessError(f"{directory}/witness.pub.pem: not an Ed25519 public key")
    if last is None:
        return None
    try:
        checkpoint = note.open_checkpoint(last, note.parse(last)[0].origin, log_key)
        at = note.cosigned_at(last, name, public)
    except note.NoteError as e:
        raise WitnessError(f"{directory}: the witnessed checkpoint does not verify: {e}") from None
    return Witnessed(name, checkpoint, at)


def compare(seen: Witnessed, entries: int, roots: dict[int, bytes]) -> Break | None:
    """The log as walked (its entry count, its roots) against what the witness cosigned."""
    size, when = seen.checkpoint.size, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seen.cosigned_at))
    if entries < size:
        return Break(
            entries + 1,
            f"entries from {entries + 1} on were removed: the witness {seen.name} cosigned a log of {size} entries at {when}",
        )
    if roots.get(size) != seen.checkpoint.root:
        return Break(
            size,
            f"the log up to entry {size} is not the one the witness {seen.name} cosigned at {when} "
            "(its tree root differs): history was rewritten",
        )
    return None
