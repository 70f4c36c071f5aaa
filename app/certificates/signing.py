"""Issuer signing keys, and the signed documents (compact JWS, EdDSA / Ed25519) they make.

A certificate's `document` is a compact JWS over its canonical content (`certificate_payload`),
signed with its issuer's key. Anyone can check it offline against /.well-known/jwks.json
(`jwks`) with `verify_document`, then compare the payload with the record.

The key id is `<issuer credit code>.<RFC 7638 thumbprint>`: a verifier can see whose key
signed, and `verify_document` refuses a document whose payload names another issuer than
the key's owner, so no authority can sign in another's name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.api_jws import PyJWS
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import now
from app.db.models import SigningKey

ALGORITHM = "EdDSA"
# RFC 7515 4.1.9: "JOSE" marks a compact-serialised JWS that is not a JWT.
DOCUMENT_TYPE = "JOSE"
PAYLOAD_FIELDS = (
    "identifier",
    "type_code",
    "number",
    "holder_kind",
    "holder_id",
    "issuer_code",
    "issued_on",
    "valid_from",
    "valid_until",
    "data",
)

signing_keys: Table = SigningKey.__table__
_jws = PyJWS()


class InvalidDocument(ValueError):
    """A certificate document that is not a valid signature by a known issuer key."""


class NoPrivateKey(LookupError):
    """The issuer's keys are on file without their private half: the issuer signs its own."""


def certificate_payload(
    *,
    identifier: str,
    type_code: str,
    number: str,
    holder_kind: str,
    holder_id: str,
    issuer_code: str,
    issued_on: dt.date,
    valid_from: dt.date,
    valid_until: dt.date | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The content an issuer signs, in JSON types (dates as ISO 8601), comparable to a record."""
    return {
        "identifier": identifier,
        "type_code": type_code,
        "number": number,
        "holder_kind": str(holder_kind),
        "holder_id": holder_id,
        "issuer_code": issuer_code,
        "issued_on": issued_on.isoformat(),
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else None,
        "data": data,
    }


def canonical_json(payload: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same content always gives the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_mismatches(payload: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The fields on which a document's payload and the record disagree (none: they match)."""
    fields = sorted(set(PAYLOAD_FIELDS) | set(payload) | set(expected))
    return [f for f in fields if payload.get(f) != expected.get(f) or (f in payload) != (f in expected)]


@dataclass(frozen=True)
class IssuerKey:
    """An issuer's private signing key, as loaded for one run."""

    kid: str
    authority_code: str
    private_key: Ed25519PrivateKey

    def sign(self, payload: dict[str, Any]) -> str:
        """A compact JWS over the canonical payload. Ed25519 is deterministic: same input, same document."""
        return _jws.encode(
            canonical_json(payload),
            self.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, "typ": DOCUMENT_TYPE},
        )


def public_jwk(public_key: Ed25519PublicKey, authority_code: str) -> dict[str, str]:
    """The public JWK (RFC 8037) of a key, with its kid."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    # RFC 7638: the thumbprint is over the required members only, sorted, without spaces.
    thumbprint = hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":")).encode())
    kid = f"{authority_code}.{base64.urlsafe_b64encode(thumbprint.digest()).rstrip(b'=').decode()}"
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def kid_authority(kid: str) -> str:
    """The credit code of the authority whose key this is."""
    return kid.split(".", 1)[0]


def new_key_row(authority_code: str) -> tuple[IssuerKey, dict[str, Any]]:
    """A fresh Ed25519 key for an issuer, and its `signing_keys` row."""
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key.public_key(), authority_code)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    row = {
        "kid": jwk["kid"],
        "authority_code": authority_code,
        "algorithm": ALGORITHM,
        "public_jwk": jwk,
        # DEV/DEMO ONLY: the private half is kept, unencrypted, so that this deployment can sign
        # imported and seeded certificates itself. A production issuer keeps its key in its own
        # HSM, registers only the public JWK (private_pem NULL) and imports signed documents.
        "private_pem": pem,
        "created_at": now(),
    }
    return IssuerKey(jwk["kid"], authority_code, private_key), row


class KeyRing:
    """Issuer signing keys inside one transaction: each loaded once, made at first need."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._keys: dict[str, IssuerKey] = {}

    def cached(self, authority_code: str) -> IssuerKey | None:
        """The issuer's key if this ring has already loaded or made it (no database needed)."""
        return self._keys.get(authority_code)

    async def signing_key(self, authority_code: str) -> IssuerKey:
        """The issuer's signing key (its oldest with a private half), made now if it has none."""
        key = self._keys.get(authority_code)
        if key is not None:
            return key
        rows = (
            await self.conn.execute(
                select(signing_keys.c.kid, signing_keys.c.private_pem)
                .where(signing_keys.c.authority_code == authority_code)
                .order_by(signing_keys.c.created_at, signing_keys.c.kid)
            )
        ).all()
        usable = [r for r in rows if r.private_pem]
        if usable:
            private = serialization.load_pem_private_key(usable[0].private_pem.encode(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise NoPrivateKey(f"the signing key {usable[0].kid} is not an Ed25519 key")
            key = IssuerKey(usable[0].kid, authority_code, private)
        elif rows:
            raise NoPrivateKey(f"{authority_code} signs its own certificates: its private key is not held here")
        else:
            key, row = new_key_row(authority_code)
            await self.conn.execute(insert(signing_keys), [row])
        self._keys[authority_code] = key
        return key


async def jwks(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    """Every issuer's public keys as a JWK Set, for /.well-known/jwks.json."""
    rows = await conn.execute(
        select(signing_keys.c.public_jwk).order_by(
            signing_keys.c.authority_code, signing_keys.c.created_at, signing_keys.c.kid
        )
    )
    return {"keys": [dict(r.public_jwk) for r in rows]}


def verify_document(document: str, public_jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of a document signed by one of these keys in its own issuer's name, or InvalidDocument."""
    try:
        header = jwt.get_unverified_header(document)
    except jwt.PyJWTError:
        raise InvalidDocument("the document is not a compact JWS") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidDocument(f"the document must be signed with {ALGORITHM}, not {header.get('alg')!r}")
    kid = header.get("kid")
    jwk = next((k for k in public_jwks.get("keys", []) if k.get("kid") == kid), None)
    if not isinstance(kid, str) or jwk is None:
        raise InvalidDocument(f"the document is signed with an unknown key {kid!r}")
    try:
        verified = _jws.decode_complete(document, jwt.PyJWK(jwk, ALGORITHM), algorithms=[ALGORITHM])
        payload = json.loads(verified["payload"])
    except (jwt.PyJWTError, ValueError):
        raise InvalidDocument("the document's signature does not verify") from None
    if not isinstance(payload, dict):
        raise InvalidDocument("the document's payload is not a JSON object")
    if payload.get("issuer_code") != kid_authority(kid):
        raise InvalidDocument("the document is signed with the key of another authority than its issuer")
    return payload
