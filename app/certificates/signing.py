"""Signed certificate documents (compact JWS) and the issuer keys that make them.

A certificate's `document` is a compact JWS over its canonical content (`certificate_payload`),
signed with its issuer's key: EdDSA (Ed25519) by default, ES256 (P-256) where an issuer
prefers it. Anyone can check it offline against /.well-known/jwks.json with `verify_document`,
then compare the payload with the record. Keys themselves (made, rotated, loaded, published)
are app/certificates/keys.py's.

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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.api_jws import PyJWS

EDDSA = "EdDSA"
ES256 = "ES256"
ALGORITHMS = (EDDSA, ES256)
ALGORITHM = EDDSA  # the default for a new key
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

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey
_jws = PyJWS()


class InvalidDocument(ValueError):
    """A certificate document that is not a valid signature by a known issuer key."""


class UnknownKey(InvalidDocument):
    """The document names a key that is not on file (or names none)."""


class BadSignature(InvalidDocument):
    """Not a compact JWS, a signature that does not verify, or a key signing in another's name."""


class NoPrivateKey(LookupError):
    """The issuer's private key is not held here: the issuer signs its own."""


def status_reference(list_id: int, index: int, issuer_code: str) -> dict[str, Any]:
    """The `status` claim (IETF Token Status List): where a verifier finds this document's status."""
    return {"status_list": {"idx": index, "uri": status_list_uri(issuer_code, list_id)}}


def status_list_uri(issuer_code: str, list_id: int) -> str:
    """A list's address, relative to the service that publishes it (and its JWKS)."""
    return f"/status-lists/{issuer_code}/{list_id}"


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
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content an issuer signs, in JSON types (dates as ISO 8601), comparable to a record."""
    payload = {
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
    if status is not None:
        payload["status"] = status
    return payload


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
    private_key: PrivateKey

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.private_key)

    def sign(self, payload: dict[str, Any]) -> str:
        """A compact JWS over the canonical payload (Ed25519 is deterministic: same input, same document)."""
        return self.sign_bytes(canonical_json(payload), DOCUMENT_TYPE)

    def sign_bytes(self, payload: bytes, typ: str) -> str:
        """What `PyJWS.encode` makes, with the protected header (the same for every document of a
        key) made by it once, not once a document: an import signs hundreds of thousands."""
        header = _protected_headers.get((self.kid, typ))
        if header is None:
            made = _jws.encode(b"", self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": typ})
            header = _protected_headers[(self.kid, typ)] = made.split(".")[0].encode()
        signing_input = header + b"." + base64.urlsafe_b64encode(payload).rstrip(b"=")
        signature = _jws.get_algorithm_by_name(self.algorithm).sign(signing_input, self.private_key)
        return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


_protected_headers: dict[tuple[str, str], bytes] = {}  # (kid, typ): the header segment, base64url


def algorithm_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return EDDSA
    if isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise ValueError(f"keys on the curve {key.curve.name} are not used here (EdDSA or ES256)")


def generate_key(algorithm: str = ALGORITHM) -> PrivateKey:
    if algorithm == EDDSA:
        return Ed25519PrivateKey.generate()
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"the signing algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_private_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("not an Ed25519 or P-256 private key")
    algorithm_of(key)  # refuses other curves
    return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638: SHA-256 over the key's required members only, sorted, without spaces."""
    return _b64(hashlib.sha256(json.dumps(_members(public_key), separators=(",", ":"), sort_keys=True).encode()).digest())


def _members(public_key: PublicKey) -> dict[str, str]:
    if isinstance(public_key, Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    numbers = public_key.public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x.to_bytes(32, "big")), "y": _b64(numbers.y.to_bytes(32, "big"))}


def public_jwk(public_key: PublicKey, authority_code: str) -> dict[str, str]:
    """The public JWK (RFC 8037 or 7518) of a key, with its kid: never its private half."""
    kid = f"{authority_code}.{thumbprint(public_key)}"
    return {**_members(public_key), "kid": kid, "alg": algorithm_of(public_key), "use": "sig"}


def kid_authority(kid: str) -> str:
    """The credit code of the authority whose key this is."""
    return kid.split(".", 1)[0]


def document_kid(document: str) -> str | None:
    """The kid a document's header names (unverified: for bookkeeping, never for trust)."""
    try:
        kid = jwt.get_unverified_header(document).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def verify_document(document: str, public_jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of a document signed by one of these keys in its own issuer's name, or
    UnknownKey / BadSignature (both InvalidDocument)."""
    try:
        header = jwt.get_unverified_header(document)
    except jwt.PyJWTError:
        raise BadSignature("the document is not a compact JWS") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise BadSignature(f"the document must be signed with {' or '.join(ALGORITHMS)}, not {algorithm!r}")
    kid = header.get("kid")
    jwk = next((k for k in public_jwks.get("keys", []) if k.get("kid") == kid), None)
    if not isinstance(kid, str) or jwk is None:
        raise UnknownKey(f"the document is signed with an unknown key {kid!r}")
    if jwk.get("alg") != algorithm:
        raise BadSignature(f"the key {kid} signs with {jwk.get('alg')}, not {algorithm}")
    try:
        verified = _jws.decode_complete(document, jwt.PyJWK(jwk, algorithm), algorithms=[algorithm])
        payload = json.loads(verified["payload"])
    except (jwt.PyJWTError, ValueError):
        raise BadSignature("the document's signature does not verify") from None
    if not isinstance(payload, dict):
        raise BadSignature("the document's payload is not a JSON object")
    if payload.get("issuer_code") != kid_authority(kid):
        raise BadSignature("the document is signed with the key of another authority than its issuer")
    return payload
