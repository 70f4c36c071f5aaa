"""Issuing a certificate: the one service behind `issueCertificate`.

The input is checked as an import line is (app/imports/certificate.py: the catalogue type and
its holder kind, the dates in order, the identifiers), then against what is on file: the
holder exists, and the issuing authority issues that type (its `certificate_types`). The new
certificate gets a GB/T 36904 identifier (the next free version for its type, issuer and
serial), a random entry in its issuer's status list, and a document signed with the issuer's
current key; it is written with its first status-history entry, in the caller's transaction
(the API's commits it together with the request's audit entry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.certificates.entries import take_one, take_turn
from app.certificates.keys import KeyRing, KeyStore
from app.certificates.qr import MAX_DOCUMENT_BYTES
from app.db.models import Authority, Certificate, CertificateStatusChange, CertificateType, Enterprise, Person
from app.domain.enums import CertificateStatus, HolderKind
from app.decisions import InApiWords
from app.errors import BadUserInput, Forbidden
from app.identifiers import parse_certificate_identifier
from app.imports.certificate import certificate as parse_certificate_line
from app.imports.certificate import signed_content
from app.imports.fields import BadRecord
from app.imports.record import CatalogueEntry, ParseContext

certificates: Table = Certificate.__table__
status_changes: Table = CertificateStatusChange.__table__
authorities: Table = Authority.__table__
catalogue: Table = CertificateType.__table__
ISSUED_REASON = "issued"
MAX_VERSION = 999
VERSIONS_AT_ONCE = 10  # versions of an identifier looked up together when it is issued again


async def issuer_types(conn: AsyncConnection, issuer_code: str) -> set[str]:
    """The certificate types an authority issues (none if it is not an issuer)."""
    types = (await conn.execute(select(authorities.c.certificate_types).where(authorities.c.code == issuer_code))).scalar()
    return set(types or ())


async def require_issues(conn: AsyncConnection, issuer_code: str, type_code: str) -> None:
    """An issuing department acts on certificates of its own types only."""
    if type_code not in await issuer_types(conn, issuer_code):
        raise Forbidden("certificate.type_not_issued", issuer_code=issuer_code, type_code=type_code)


async def issue_certificate(
    conn: AsyncConnection, line: dict[str, Any], *, keys: KeyStore, actor_org: str | None, at: dt.datetime
) -> str:
    """Issue the certificate an import-style `line` describes (status VALID); its identifier."""
    entries = {
        r.code: CatalogueEntry(r.national_code, HolderKind(r.holder_kind))
        for r in await conn.execute(select(catalogue.c.code, catalogue.c.national_code, catalogue.c.holder_kind))
    }
    try:
        record = parse_certificate_line({**line, "kind": "certificate", "status": "VALID"}, ParseContext(entries))
    except BadRecord as e:
        raise BadUserInput("decision.bad_input", reasons=InApiWords(e.reasons)) from None
    row = dict(record.row)
    await require_issues(conn, row["issuer_code"], row["type_code"])
    await _require_holder(conn, HolderKind(row["holder_kind"]), row["holder_id"])
    # The issuer's turn first (app/certificates/entries.py): the identifier's version and the
    # status-list entry are picked from what is committed, and nothing else picks them meanwhile.
    await take_turn(conn, row["issuer_code"])
    row["identifier"] = await _free_identifier(conn, row["identifier"])
    row["status_list"], row["status_index"] = await take_one(conn, row["issuer_code"])
    key = await KeyRing(conn, keys).signing_key(row["issuer_code"])
    row["kid"] = key.kid
    row["document"] = key.sign(signed_content(row))
    size = len(row["document"].encode())
    if size > MAX_DOCUMENT_BYTES:
        raise BadUserInput("certificate.document_too_large", size=size, limit=MAX_DOCUMENT_BYTES)
    row["status"] = CertificateStatus.VALID.value
    new_id = (await conn.execute(insert(certificates).returning(certificates.c.id), [row])).scalar_one()
    await conn.execute(
        insert(status_changes),
        [{"certificate_id": new_id, "at": at, "status": row["status"], "reason": ISSUED_REASON, "actor_org": actor_org}],
    )
    return str(row["identifier"])


async def _require_holder(conn: AsyncConnection, kind: HolderKind, holder_id: str) -> None:
    key = Person.__table__.c.id_number if kind is HolderKind.PERSON else Enterprise.__table__.c.credit_code
    if (await conn.execute(select(key).where(key == holder_id))).first() is None:
        raise BadUserInput("decision.holder_unknown", holder_kind=kind, holder_id=holder_id)


async def _free_identifier(conn: AsyncConnection, identifier: str) -> str:
    """This identifier, or the next version of it that is not taken (a certificate issued again).

    The candidates are looked up by the identifier's unique index, VERSIONS_AT_ONCE at a time:
    a search by prefix (LIKE) cannot use that index under a collation other than C, and read
    every certificate."""
    ident = parse_certificate_identifier(identifier)
    for first in range(int(ident.version), MAX_VERSION + 1, VERSIONS_AT_ONCE):
        versions = range(first, min(first + VERSIONS_AT_ONCE, MAX_VERSION + 1))
        candidates = [str(dataclasses.replace(ident, version=f"{v:03d}")) for v in versions]
        query = select(certificates.c.identifier).where(certificates.c.identifier.in_(candidates))
        taken = set((await conn.execute(query)).scalars())
        free = next((c for c in candidates if c not in taken), None)
        if free is not None:
            return free
    prefix = f"1.2.156.3005.2.{ident.type_code}.{ident.issuer_code}.{ident.serial}."
    raise BadUserInput("certificate.versions_taken", prefix=prefix)
