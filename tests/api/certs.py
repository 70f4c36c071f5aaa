"""What the certificate tests share: issuing over the API, and checking documents offline."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt

from tests.api import city
from tests.api.conftest import Api

CERT_FIELDS = "identifier typeCode holderId issuerCode status validFrom validUntil document statusHistory { status reason }"
ISSUE = f"""mutation($in: IssueCertificateInput!) {{ issueCertificate(input: $in) {{ {CERT_FIELDS} }} }}"""
SET_STATUS = f"""mutation($id: String!, $s: CertificateStatus!, $why: String!) {{
  setCertificateStatus(identifier: $id, status: $s, reason: $why) {{ {CERT_FIELDS} }} }}"""
VERIFY = """query($id: String!, $doc: String) {
  verifyCertificate(identifier: $id, document: $doc) { valid status identifier issuerCode reasons } }"""


def issue_input(**changes: Any) -> dict[str, Any]:
    """A new ID card for the stranger (nobody else's tests count the stranger's certificates)."""
    fields: dict[str, Any] = {
        "typeCode": "ID_CARD", "number": f"ID{uuid.uuid4().hex[:12].upper()}", "holderKind": "PERSON",
        "holderId": city.STRANGER, "issuedOn": city.days(-1), "validFrom": city.days(-1),
        "validUntil": city.days(3650), "data": {"name": "刘秀英"},
    }  # fmt: skip
    return {**fields, **changes}


async def issue(api: Api, token: str | None = None, **changes: Any) -> dict[str, Any]:
    """A certificate issued by the police (or the token's issuer); the issued certificate."""
    body = await api.graphql(ISSUE, {"in": issue_input(**changes)}, token=token or api.tokens.issuer(city.POLICE))
    assert "errors" not in body, body
    certificate: dict[str, Any] = body["data"]["issueCertificate"]
    return certificate


async def set_status(api: Api, identifier: str, status: str, reason: str, token: str | None = None) -> dict[str, Any]:
    variables = {"id": identifier, "s": status, "why": reason}
    return await api.graphql(SET_STATUS, variables, token=token or api.tokens.issuer(city.POLICE))


async def published_keys(api: Api) -> dict[str, Any]:
    response = await api.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys: dict[str, Any] = response.json()
    return keys


def verify_offline(document: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What any verifier does with the JWKS alone: the key by kid, the signature, the payload."""
    header = jwt.get_unverified_header(document)
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    payload: dict[str, Any] = jwt.decode(document, jwt.PyJWK(jwk), algorithms=[jwk["alg"]])
    return payload


def tampered(document: str, **changes: Any) -> str:
    """The same header and signature over a payload with `changes`."""
    header, payload, signature = document.split(".")
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    content.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(content).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"
