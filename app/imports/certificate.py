"""A certificate line: its catalogue type, its identifier (given, or made per GB/T 36904), its content."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from app.certificates.entries import entry_of
from app.certificates.signing import PAYLOAD_FIELDS, certificate_payload, document_kid, status_reference
from app.db.models import Certificate
from app.domain.enums import STORED_CERTIFICATE_STATUSES, CertificateStatus
from app.i18n import Text
from app.identifiers import CertificateIdentifier, InvalidIdentifier, parse_certificate_identifier
from app.imports.fields import FieldReader, done, in_order
from app.imports.record import CatalogueEntry, ParseContext, Record, table_of

CERTIFICATE_VERSION = "001"  # the first version of a certificate whose identifier is made here
NOT_SERIAL = re.compile(r"[^0-9A-Za-z]")  # a serial is the number's ASCII letters and digits
FIELDS = frozenset(
    "kind type_code number holder_kind holder_id issuer_code issued_on valid_from valid_until data status identifier "
    "document".split()
)


def certificate(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Certificate).c
    r = FieldReader(obj, FIELDS)
    holder = r.holder()
    type_code = r.text("type_code", c.type_code)
    entry = ctx.catalogue.get(type_code) if type_code else None
    if type_code and entry is None:
        r.fail("import.cert_type_unknown", type_code=type_code, known=", ".join(sorted(ctx.catalogue)))
    elif entry and holder and entry.holder_kind is not holder[0]:
        r.fail("import.cert_holder_kind", type_code=type_code, wanted=entry.holder_kind, given=holder[0])
    row: dict[str, Any] = {
        "type_code": type_code,
        "number": r.text("number", c.number),
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "issuer_code": r.credit_code("issuer_code"),
        "issued_on": r.date("issued_on"),
        "valid_from": r.date("valid_from"),
        "valid_until": r.date("valid_until", optional=True, end=True),
        "status": r.enum(
            "status",
            CertificateStatus,
            allowed=STORED_CERTIFICATE_STATUSES,
            why_not=Text("import.expired_derived", {"field": "valid_until"}),
        ),
        "data": r.json_object("data"),
        "document": r.text("document", c.document, optional=True),
    }
    in_order(r, row, "valid_from", "valid_until")
    row["identifier"] = _certificate_identifier(r, obj, row, entry)
    # A signed document names its key and, when it has one, its status-list entry; the rest are
    # given when the line is written (app/imports/write.py).
    row["kid"] = document_kid(row["document"]) if row["document"] else None
    row["status_list"], row["status_index"] = _entry(row)
    return done(
        r,
        lambda: Record(
            "certificate", (row["identifier"],), row, holder, (row["issuer_code"],), document=row["document"]
        ),
    )


def signed_content(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the issuer signs for a certificate row (with its `status` claim once it has an entry)."""
    status = None
    if row.get("status_list") is not None:
        status = status_reference(row["status_list"], row["status_index"], row["issuer_code"])
    return certificate_payload(**{k: row[k] for k in PAYLOAD_FIELDS}, status=status)


def _entry(row: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The status-list entry a given document's `status` claim names (checked with its signature)."""
    document = row["document"]
    if not document or row["issuer_code"] is None:
        return None, None
    try:
        segment = document.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return None, None  # not a JWS: the signature check says so
    found = entry_of(payload, row["issuer_code"]) if isinstance(payload, dict) else None
    return found if found else (None, None)


def _certificate_identifier(
    r: FieldReader, obj: Mapping[str, Any], row: dict[str, Any], entry: CatalogueEntry | None
) -> str | None:
    """The identifier given (checked against the line), or one made from type, issuer and number."""
    limit = getattr(table_of(Certificate).c.identifier.type, "length", None)
    if entry is None or row["issuer_code"] is None or row["number"] is None:
        return None
    given = obj.get("identifier")
    if given is not None:
        try:
            ident = parse_certificate_identifier(given)
        except InvalidIdentifier as e:
            r.fail("import.identifier", name="identifier", why=e.text)
            return None
        if ident.type_code != entry.national_code:
            r.fail("import.cert_type_mismatch", given=ident.type_code, type_code=row["type_code"], national=entry.national_code)
        if ident.issuer_code != row["issuer_code"]:
            r.fail("import.cert_issuer_mismatch", given=ident.issuer_code, issuer_code=row["issuer_code"])
    else:
        serial = NOT_SERIAL.sub("", row["number"]).upper()
        if not serial:
            r.fail("import.cert_number_empty")
            return None
        ident = CertificateIdentifier(entry.national_code, row["issuer_code"], serial, CERTIFICATE_VERSION)
    text = str(ident)
    if limit is not None and len(text) > limit:
        r.fail("import.cert_identifier_long", length=len(text), limit=limit)
        return None
    return text
