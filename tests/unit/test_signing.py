"""Certificate documents: anyone holding the published keys can check one offline."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.certificates.keys import new_key_row
from app.certificates.signing import (
    ES256,
    BadSignature,
    InvalidDocument,
    IssuerKey,
    UnknownKey,
    certificate_payload,
    payload_mismatches,
    verify_document,
)

POLICE = "113301000024891313"
MARKET_REGULATOR = "113301000024891238"


def content(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "identifier": "1.2.156.3005.2.11100000000013338W001.113301000024891313.330106198503120028.001.B",
        "type_code": "ID_CARD",
        "number": "330106198503120028",
        "holder_kind": "PERSON",
        "holder_id": "330106198503120028",
        "issuer_code": POLICE,
        "issued_on": dt.date(2021, 3, 15),
        "valid_from": dt.date(2021, 3, 15),
        "valid_until": None,
        "data": {"name": "王芳", "height_cm": 162.5},
    }
    return certificate_payload(**{**fields, **changes})


def keyset(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


@pytest.fixture(scope="module")
def police() -> tuple[IssuerKey, dict[str, Any]]:
    key, row = new_key_row(POLICE)
    return key, row["public_jwk"]


def test_a_signed_document_verifies_and_gives_back_the_content(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, jwk = police
    document = key.sign(content())
    assert verify_document(document, keyset(jwk)) == content()
    assert payload_mismatches(verify_document(document, keyset(jwk)), content()) == []


def test_the_public_key_is_a_plain_ed25519_jwk_without_the_private_half(
    police: tuple[IssuerKey, dict[str, Any]],
) -> None:
    _, jwk = police
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert jwk["kid"].startswith(POLICE + ".") and "d" not in jwk


def test_any_jose_library_verifies_a_document(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, jwk = police
    document = key.sign(content())
    assert jwt.get_unverified_header(document)["kid"] == jwk["kid"]
    assert jwt.decode(document, jwt.PyJWK(jwk), algorithms=["EdDSA"])["identifier"] == content()["identifier"]


def test_signing_is_deterministic(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, _ = police
    assert key.sign(content()) == key.sign(content())


def test_a_document_is_byte_for_byte_what_pyjwt_makes(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    """The header is made once a key, the rest per document: the same compact JWS as PyJWS.encode."""
    key, _ = police
    for typ, payload in (("JOSE", content()), ("statuslist+jwt", {"sub": "x", "iat": 1})):
        raw = json.dumps(payload, default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        made = jwt.api_jws.PyJWS().encode(raw, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": typ})
        assert key.sign_bytes(raw, typ) == made
    es256, _ = new_key_row(POLICE, ES256)  # ECDSA signatures differ each time: the signed part may not
    raw = json.dumps({"a": 1}).encode()
    made = jwt.api_jws.PyJWS().encode(raw, es256.private_key, algorithm="ES256", headers={"kid": es256.kid, "typ": "JOSE"})
    assert es256.sign_bytes(raw, "JOSE").rsplit(".", 1)[0] == made.rsplit(".", 1)[0]


def test_a_document_for_other_content_does_not_match_the_record(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, jwk = police
    payload = verify_document(key.sign(content(number="X1")), keyset(jwk))
    assert payload_mismatches(payload, content()) == ["number"]


def test_a_tampered_document_is_refused(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, jwk = police
    header, payload, signature = key.sign(content()).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["holder_id"] = "11010519491231002X"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidDocument, match="signature"):
        verify_document(f"{header}.{forged_payload}.{signature}", keyset(jwk))
    with pytest.raises(InvalidDocument, match="signature"):
        verify_document(f"{header}.{payload}.{signature[:-4]}AAAA", keyset(jwk))


def test_a_document_signed_by_an_unknown_key_is_refused(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, _ = police
    _, other_row = new_key_row(POLICE)
    with pytest.raises(InvalidDocument, match="unknown key"):
        verify_document(key.sign(content()), keyset(other_row["public_jwk"]))


def test_an_authority_cannot_sign_in_another_issuers_name() -> None:
    market, row = new_key_row(MARKET_REGULATOR)
    with pytest.raises(InvalidDocument, match="another authority"):
        verify_document(market.sign(content(issuer_code=POLICE)), keyset(row["public_jwk"]))


def test_a_key_posing_under_anothers_kid_is_refused(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    _, jwk = police
    impostor = IssuerKey(jwk["kid"], POLICE, Ed25519PrivateKey.generate())
    with pytest.raises(InvalidDocument, match="signature"):
        verify_document(impostor.sign(content()), keyset(jwk))


@pytest.mark.parametrize("document", ["", "not a jws", "a.b", "a.b.c"])
def test_what_is_not_a_jws_is_refused(document: str, police: tuple[IssuerKey, dict[str, Any]]) -> None:
    with pytest.raises(InvalidDocument):
        verify_document(document, keyset(police[1]))


def test_only_eddsa_is_accepted(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    _, jwk = police
    hmac = jwt.api_jws.PyJWS().encode(
        json.dumps(content()).encode(), "secret" * 8, algorithm="HS256", headers={"kid": jwk["kid"]}
    )
    with pytest.raises(InvalidDocument, match="EdDSA"):
        verify_document(hmac, keyset(jwk))
    unsigned = jwt.api_jws.PyJWS().encode(
        json.dumps(content()).encode(), None, algorithm="none", headers={"kid": jwk["kid"]}
    )
    with pytest.raises(InvalidDocument, match="EdDSA"):
        verify_document(unsigned, keyset(jwk))


def test_an_es256_key_signs_documents_that_verify_against_its_public_jwk() -> None:
    key, row = new_key_row(POLICE, ES256)
    jwk = row["public_jwk"]
    assert {k: jwk[k] for k in ("kty", "crv", "alg")} == {"kty": "EC", "crv": "P-256", "alg": "ES256"} and "d" not in jwk
    assert verify_document(key.sign(content()), keyset(jwk)) == content()
    assert jwt.decode(key.sign(content()), jwt.PyJWK(jwk), algorithms=["ES256"])["number"] == content()["number"]


def test_an_unknown_key_and_a_bad_signature_are_told_apart(police: tuple[IssuerKey, dict[str, Any]]) -> None:
    key, jwk = police
    _, other = new_key_row(POLICE)
    with pytest.raises(UnknownKey):
        verify_document(key.sign(content()), keyset(other["public_jwk"]))
    header, payload, signature = key.sign(content()).split(".")
    with pytest.raises(BadSignature):
        verify_document(f"{header}.{payload}.{signature[:-4]}AAAA", keyset(jwk))
