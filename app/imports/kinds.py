"""The import kinds of SPEC section 8: one parser per kind, from a JSON object to a table row.

Parsing is pure: it needs only the certificate catalogue. What a line refers to (holders,
authorities, legal representatives) is checked across the whole input by `check.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.db.models import Authority, Certificate, Consent, CreditFlag, Enterprise, Licence, Penalty, Person
from app.domain.enums import (
    REGISTER_STATUS_TERMS,
    STORED_LICENCE_STATUSES,
    AuthorityType,
    CreditFlagKind,
    EnterpriseStatus,
    HolderKind,
    LicenceStatus,
    PenaltySeverity,
    PenaltyStatus,
    Purpose,
)
from app.i18n import Text
from app.identifiers import birth_date_of, gender_of
from app.imports.certificate import certificate
from app.imports.fields import BadRecord, FieldReader, done, in_order
from app.imports.record import Kind, ParseContext, Record, table_of


def parse_line(text: str) -> Mapping[str, Any]:
    """One JSONL line as an object; numbers with a fraction stay exact (Decimal)."""
    try:
        obj = _DECODER.decode(text)
    except ValueError as e:
        raise BadRecord([Text("import.line_not_json", {"error": str(e)})]) from None
    except RecursionError:  # arrays or objects nested past Python's recursion limit
        raise BadRecord([Text("import.line_too_deep")]) from None
    if not isinstance(obj, dict):
        raise BadRecord([Text("import.line_not_object")])
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# Built once: json.loads with options would build a decoder per line.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)


def parse_record(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    """A good record of its kind, or BadRecord naming every problem."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadRecord([Text("import.kind", {"kinds": ", ".join(KINDS), "kind": kind})])
    return KINDS[kind].parse(obj, ctx)


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split()) | {"kind"}


# The fields of each kind, as SPEC section 8 fixes them.
AUTHORITY_FIELDS = _fields("code name authority_type certificate_types")
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
CONSENT_FIELDS = _fields("id holder_kind holder_id grantee_code purposes granted_at valid_until revoked_at")
CREDIT_FLAG_FIELDS = _fields("holder_kind holder_id flag source since until")


def authority(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Authority).c
    r = FieldReader(obj, AUTHORITY_FIELDS)
    row: dict[str, Any] = {
        "code": r.credit_code("code"),
        "name": r.text("name", c.name),
        "authority_type": r.enum("authority_type", AuthorityType),
        "certificate_types": _certificate_types(r, obj, ctx),
    }
    if row["certificate_types"] and row["authority_type"] not in (None, AuthorityType.ISSUER):
        r.fail("import.types_not_issuer")
    return done(r, lambda: Record("authority", (row["code"],), row, None))


def _certificate_types(r: FieldReader, obj: Mapping[str, Any], ctx: ParseContext) -> list[str] | None:
    """An issuer's type codes, each in the catalogue, sorted; absent or null: none."""
    value = obj.get("certificate_types")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.fail("import.types_not_list")
        return None
    unknown = sorted(set(value) - set(ctx.catalogue))
    if unknown:
        r.fail("import.types_unknown", unknown=", ".join(unknown), catalogue=", ".join(sorted(ctx.catalogue)))
        return None
    return sorted(set(value))


def person(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Person).c
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
    return done(r, lambda: Record("person", (id_number,), row, holder), holder)


def enterprise(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Enterprise).c
    r = FieldReader(obj, ENTERPRISE_FIELDS)
    code = r.credit_code("credit_code")
    row: dict[str, Any] = {
        "credit_code": code,
        "name": r.text("name", c.name),
        "legal_rep_id_number": r.id_number("legal_rep_id_number"),
        "type": r.text("type", c.type),
        "status": r.enum("status", EnterpriseStatus, terms=REGISTER_STATUS_TERMS),
        "registered_capital": r.money("registered_capital"),
        "established_on": r.date("established_on"),
        "registered_address": r.text("registered_address", c.registered_address),
        "business_scope": r.text("business_scope", c.business_scope),
    }
    holder = (HolderKind.ENTERPRISE, code) if code else None
    return done(r, lambda: Record("enterprise", (code,), row, holder, legal_rep=row["legal_rep_id_number"]), holder)


def licence(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Licence).c
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
        "valid_to": r.date("valid_to", optional=True, end=True),
        "status": r.enum(
            "status", LicenceStatus, allowed=STORED_LICENCE_STATUSES, why_not=Text("import.expired_derived", {"field": "valid_to"})
        ),
    }
    in_order(r, row, "valid_from", "valid_to")
    return done(
        r,
        lambda: Record("licence", (row["decision_number"],), row, holder, (row["authority_code"],)),
    )


def penalty(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Penalty).c
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
        r.fail("import.repaired_needs_date")
    if row["status"] is PenaltyStatus.ACTIVE and row["repaired_on"] is not None:
        r.fail("import.active_no_repair")
    in_order(r, row, "decided_on", "repaired_on")
    return done(
        r,
        lambda: Record("penalty", (row["decision_number"],), row, holder, (row["authority_code"],)),
    )


def consent(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(Consent).c
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
    in_order(r, row, "granted_at", "valid_until")
    in_order(r, row, "granted_at", "revoked_at")
    return done(r, lambda: Record("consent", (row["id"],), row, holder, (row["grantee_code"],)))


def credit_flag(obj: Mapping[str, Any], ctx: ParseContext) -> Record:
    c = table_of(CreditFlag).c
    r = FieldReader(obj, CREDIT_FLAG_FIELDS)
    holder = r.holder()
    row: dict[str, Any] = {
        "holder_kind": holder and holder[0],
        "holder_id": holder and holder[1],
        "flag": r.enum("flag", CreditFlagKind),
        "source": r.text("source", c.source),
        "since": r.date("since"),
        "until": r.date("until", optional=True, end=True),
    }
    in_order(r, row, "since", "until")
    key = tuple(row[k] for k in KINDS["credit_flag"].conflict)
    return done(r, lambda: Record("credit_flag", key, row, holder))


KINDS: dict[str, Kind] = {
    "authority": Kind(table_of(Authority), ("code",), "authority code", authority),
    "person": Kind(table_of(Person), ("id_number",), "ID number", person),
    "enterprise": Kind(table_of(Enterprise), ("credit_code",), "credit code", enterprise),
    "licence": Kind(table_of(Licence), ("decision_number",), "licence decision number", licence),
    "penalty": Kind(table_of(Penalty), ("decision_number",), "penalty decision number", penalty),
    "certificate": Kind(table_of(Certificate), ("identifier",), "certificate identifier", certificate),
    "consent": Kind(table_of(Consent), ("id",), "consent id", consent),
    "credit_flag": Kind(
        table_of(CreditFlag), ("holder_kind", "holder_id", "flag", "source", "since"), "credit flag", credit_flag
    ),
}
