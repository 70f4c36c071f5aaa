"""The import kinds of SPEC section 8: one parser per kind, from a JSON object to a table row.

Parsing is pure: it needs only the certificate catalogue. What a line refers to (holders,
authorities, legal representatives) is checked across the whole input by `check.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase

from app.certificates.signing import certificate_payload
from app.db.models import Authority, Certificate, Consent, CreditFlag, Enterprise, Licence, Penalty, Person
from app.domain.enums import (
    STORED_CERTIFICATE_STATUSES,
    STORED_LICENCE_STATUSES,
    AuthorityType,
    CertificateStatus,
    CreditFlagKind,
    EnterpriseStatus,
    HolderKind,
    LicenceStatus,
    PenaltySeverity,
    PenaltyStatus,
    Purpose,
)
from app.identifiers import (
    CertificateIdentifier,
    InvalidIdentifier,
    birth_date_of,
    gender_of,
    parse_certificate_identifier,
)
from app.imports.fields import BadRecord, FieldReader

Holder = tuple[HolderKind, str]
CERTIFICATE_VERSION = "001"  # the first version of a certificate whose identifier is made here
NOT_SERIAL = re.compile(r"[^0-9A-Za-z]")  # a serial is the number's ASCII letters and digits


@dataclass(frozen=True)
class CatalogueEntry:
    national_code: str
    holder_kind: HolderKind


@dataclass(frozen=True)
class ParseContext:
    catalogue: Mapping[str, CatalogueEntry]  # certificate type code -> entry


@dataclass(slots=True)
class Record:
    """One good line: its table row and what it refers to."""

    kind: str
    key: tuple[Any, ...]  # its natural key within its kind
    row: dict[str, Any]  # every column of its table but the surrogate id
    holder: Holder | None  # the subject it is about (a person or enterprise: itself)
    authorities: tuple[str, ...] = ()  # the authorities it names
    legal_rep: str | None = None  # an enterprise's legal representative
    document: str | None = None  # a certificate's document, when the line gives one


@dataclass(frozen=True)
class Kind:
    table: Table
    conflict: tuple[str, ...]  # the natural key: the unique columns an upsert is keyed on
    label: str  # how the report names its key
    parse: Callable[[Mapping[str, Any], ParseContext], Record]


def parse_line(text: str) -> Mapping[str, Any]:
    """One JSONL line as an object; numbers with a fraction stay exact (Decimal)."""
    try:
        obj = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as e:
        raise BadRecord([f"not valid JSON: {e}"]) from None
    if not isinstance(obj, dict):
        raise BadRecord(["a line must be a JSON object"])
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_record(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    """A good record of its kind, or BadRecord naming every problem."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadRecord([f"kind must be one of {', '.join(KINDS)}, not {kind!r}"])
    return KINDS[kind].parse(obj, ctx)


def _done(r: FieldReader, record: Callable[[], Record], subject: Holder | None = None) -> Record:
    """The record, or BadRecord with every reason; `subject`: the person or enterprise the line gives."""
    if r.errors:
        raise BadRecord(r.errors, subject)
    return record()


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


# The fields of each kind, as SPEC section 8 fixes them.
AUTHORITY_FIELDS = _fields("code name authority_type")
PERSON_FIELDS = _fields("id_number name phone address")
ENTERPRISE_FIELDS = _fields(
    "credit_code name legal_rep_id_number type registered_capital established_on registered_address status "
    "business_scope"
)
LICENCE_FIELDS = _fields(
    "decision_number holder_kind holder_id category title content authority_code decided_on valid_from valid_to status"
)
PENALTY_FIELDS = _fields(
    "decision_number holder_kind holder_id severity category reason basis amount authority_code decided_on status "
    "repaired_on"
)
CERTIFICATE_FIELDS = _fields(
    "type_code number holder_kind holder_id issuer_code issued_on valid_from valid_until data status identifier "
    "document"
)
CONSENT_FIELDS = _fields("id holder_kind holder_id grantee_code purposes granted_at valid_until revoked_at")
CREDIT_FLAG_FIELDS = _fields("holder_kind holder_id flag source since until")


def authority(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Authority).c
    r = FieldReader(obj, AUTHORITY_FIELDS)
    row: dict[str, Any] = {
        "code": r.credit_code("code"),
        "name": r.text("name", c.name),
        "authority_type": r.enum("authority_type", AuthorityType),
    }
    return _done(r, lambda: Record("authority", (row["code"],), row, None))


def person(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Person).c
    r = FieldReader(obj, PERSON_FIELDS)
    id_number = r.id_number("id_number")
    row: dict[str, Any] = {
        "id_number": id_number,
        "name": r.text("name", c.name),
        # Both follow from the ID number (GB 11643): never given separately, never contradicting it.
        "gender": gender_of(id_number) if id_number else None,
        "birth_date": birth_date_of(id_number) if id_number else None,
        "phone": r.phone("phone", c.phone),
        "address": r.text("address", c.address, optional=True),
    }
    holder = (HolderKind.PERSON, id_number) if id_number else None
    return _done(r, lambda: Record("person", (id_number,), row, holder), holder)


def enterprise(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Enterprise).c
    r = FieldReader(obj, ENTERPRISE_FIELDS)
    code = r.credit_code("credit_code")
    row: dict[str, Any] = {
        "credit_code": code,
        "name": r.text("name", c.name),
        "legal_rep_id_number": r.id_number("legal_rep_id_number"),
        "type": r.text("type", c.type),
        "status": r.enum("status", EnterpriseStatus),
        "registered_capital": r.money("registered_capital"),
        "established_on": r.date("established_on"),
        "registered_address": r.text("registered_address", c.registered_address),
        "business_scope": r.text("business_scope", c.business_scope),
    }
    holder = (HolderKind.ENTERPRISE, code) if code else None
    return _done(r, lambda: Record("enterprise", (code,), row, holder, legal_rep=row["legal_rep_id_number"]), holder)


def licence(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Licence).c
    r = FieldReader(obj, LICENCE_FIELDS)
    holder = r.holder()
    row: dict[str, Any] = {
        "decision_number": r.text("decision_number", c.decision_number),
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "category": r.text("category", c.category),
        "title": r.text("title", c.title),
        "content": r.text("content", c.content),
        "authority_code": r.credit_code("authority_code"),
        "decided_on": r.date("decided_on"),
        "valid_from": r.date("valid_from"),
        "valid_to": r.date("valid_to", optional=True),
        "status": r.enum(
            "status", LicenceStatus, allowed=STORED_LICENCE_STATUSES, why_not="EXPIRED is derived from valid_to"
        ),
    }
    _in_order(r, row, "valid_from", "valid_to")
    return _done(
        r,
        lambda: Record("licence", (row["decision_number"],), row, holder, (row["authority_code"],)),
    )


def penalty(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Penalty).c
    r = FieldReader(obj, PENALTY_FIELDS)
    holder = r.holder()
    row: dict[str, Any] = {
        "decision_number": r.text("decision_number", c.decision_number),
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "severity": r.enum("severity", PenaltySeverity),
        "category": r.text("category", c.category),
        "reason": r.text("reason", c.reason),
        "basis": r.text("basis", c.basis),
        "amount": r.money("amount"),
        "authority_code": r.credit_code("authority_code"),
        "decided_on": r.date("decided_on"),
        "status": r.enum("status", PenaltyStatus),
        "repaired_on": r.date("repaired_on", optional=True),
    }
    if row["status"] is PenaltyStatus.REPAIRED and obj.get("repaired_on") is None:
        r.fail("a REPAIRED penalty needs repaired_on")
    if row["status"] is PenaltyStatus.ACTIVE and row["repaired_on"] is not None:
        r.fail("an ACTIVE penalty has no repaired_on (REPAIRED, then?)")
    _in_order(r, row, "decided_on", "repaired_on")
    return _done(
        r,
        lambda: Record("penalty", (row["decision_number"],), row, holder, (row["authority_code"],)),
    )


def certificate(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Certificate).c
    r = FieldReader(obj, CERTIFICATE_FIELDS)
    holder = r.holder()
    type_code = r.text("type_code", c.type_code)
    entry = ctx.catalogue.get(type_code) if type_code else None
    if type_code and entry is None:
        r.fail(f"type_code {type_code!r} is not in the catalogue ({', '.join(sorted(ctx.catalogue))})")
    elif entry and holder and entry.holder_kind is not holder[0]:
        r.fail(f"a {type_code} is held by a {entry.holder_kind}, not a {holder[0]}")
    row: dict[str, Any] = {
        "type_code": type_code,
        "number": r.text("number", c.number),
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "issuer_code": r.credit_code("issuer_code"),
        "issued_on": r.date("issued_on"),
        "valid_from": r.date("valid_from"),
        "valid_until": r.date("valid_until", optional=True),
        "status": r.enum(
            "status",
            CertificateStatus,
            allowed=STORED_CERTIFICATE_STATUSES,
            why_not="EXPIRED is derived from valid_until",
        ),
        "data": r.json_object("data"),
        "document": r.text("document", c.document, optional=True),
    }
    _in_order(r, row, "valid_from", "valid_until")
    row["identifier"] = _certificate_identifier(r, obj, row, entry)
    return _done(
        r,
        lambda: Record(
            "certificate", (row["identifier"],), row, holder, (row["issuer_code"],), document=row["document"]
        ),
    )


def signed_content(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the issuer signs for a certificate row."""
    return certificate_payload(**{k: row[k] for k in CONTENT_FIELDS})


CONTENT_FIELDS = (
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


def _certificate_identifier(
    r: FieldReader, obj: Mapping[str, Any], row: dict[str, Any], entry: CatalogueEntry | None
) -> str | None:
    """The identifier given (checked against the line), or one made from type, issuer and number."""
    limit = getattr(_table(Certificate).c.identifier.type, "length", None)
    if entry is None or row["issuer_code"] is None or row["number"] is None:
        return None
    given = obj.get("identifier")
    if given is not None:
        try:
            ident = parse_certificate_identifier(given)
        except InvalidIdentifier as e:
            r.fail(f"identifier: {e}")
            return None
        if ident.type_code != entry.national_code:
            r.fail(f"identifier: its type code {ident.type_code} is not {row['type_code']}'s ({entry.national_code})")
        if ident.issuer_code != row["issuer_code"]:
            r.fail(f"identifier: its issuer {ident.issuer_code} is not issuer_code {row['issuer_code']}")
    else:
        serial = NOT_SERIAL.sub("", row["number"]).upper()
        if not serial:
            r.fail("number has no letters or digits to make an identifier from; give identifier")
            return None
        ident = CertificateIdentifier(entry.national_code, row["issuer_code"], serial, CERTIFICATE_VERSION)
    text = str(ident)
    if limit is not None and len(text) > limit:
        r.fail(f"the identifier would be {len(text)} characters, more than {limit}; give a shorter identifier")
        return None
    return text


def consent(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(Consent).c
    r = FieldReader(obj, CONSENT_FIELDS)
    holder = r.holder()
    row: dict[str, Any] = {
        "id": r.text("id", c.id),
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "grantee_code": r.credit_code("grantee_code"),
        "purposes": r.enums("purposes", Purpose),
        "granted_at": r.timestamp("granted_at"),
        "valid_until": r.timestamp("valid_until", optional=True, end_of_day=True),
        "revoked_at": r.timestamp("revoked_at", optional=True),
    }
    if row["purposes"]:
        row["purposes"] = [p.value for p in row["purposes"]]  # JSON: plain strings, in the enum's order
    _in_order(r, row, "granted_at", "valid_until")
    _in_order(r, row, "granted_at", "revoked_at")
    return _done(r, lambda: Record("consent", (row["id"],), row, holder, (row["grantee_code"],)))


def credit_flag(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = _table(CreditFlag).c
    r = FieldReader(obj, CREDIT_FLAG_FIELDS)
    holder = r.holder()
    row: dict[str, Any] = {
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "flag": r.enum("flag", CreditFlagKind),
        "source": r.text("source", c.source),
        "since": r.date("since"),
        "until": r.date("until", optional=True),
    }
    _in_order(r, row, "since", "until")
    key = tuple(row[k] for k in KINDS["credit_flag"].conflict)
    return _done(r, lambda: Record("credit_flag", key, row, holder))


def _in_order(r: FieldReader, row: Mapping[str, Any], first: str, then: str) -> None:
    a, b = row[first], row[then]
    if isinstance(a, (dt.date, dt.datetime)) and isinstance(b, type(a)) and b < a:
        r.fail(f"{then} {b.isoformat()} is before {first} {a.isoformat()}")


KINDS: dict[str, Kind] = {
    "authority": Kind(_table(Authority), ("code",), "authority code", authority),
    "person": Kind(_table(Person), ("id_number",), "ID number", person),
    "enterprise": Kind(_table(Enterprise), ("credit_code",), "credit code", enterprise),
    "licence": Kind(_table(Licence), ("decision_number",), "licence decision number", licence),
    "penalty": Kind(_table(Penalty), ("decision_number",), "penalty decision number", penalty),
    "certificate": Kind(_table(Certificate), ("identifier",), "certificate identifier", certificate),
    "consent": Kind(_table(Consent), ("id",), "consent id", consent),
    "credit_flag": Kind(
        _table(CreditFlag), ("holder_kind", "holder_id", "flag", "source", "since"), "credit flag", credit_flag
    ),
}
