"""Batch loading: each list in a query costs one statement per level, never one per row.

A `Loaders` object is built per request (never at module level: the cache would leak
between callers). Statements are built once at import, each registered as a hot read
(app/db/hot.py: compiled once, run on the driver); only their parameters change. Batch
functions return plain rows, in key order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Row, Select, bindparam, func, select

from app.db.hot import hot
from app.db.models import (
    AccessRecord,
    Authority,
    Certificate,
    CertificateStatusChange,
    CertificateType,
    Consent,
    CreditFlag,
    CreditScore,
    Enterprise,
    Licence,
    Penalty,
    Person,
)
from app.db.request import RequestDatabase
from app.resolvers.batching import BatchLoader
from app.domain.enums import HolderKind

HolderKey = tuple[HolderKind, str]
K = TypeVar("K", bound=Hashable)

persons = Person.__table__
enterprises = Enterprise.__table__
authorities = Authority.__table__
licences = Licence.__table__
penalties = Penalty.__table__
certificates = Certificate.__table__
certificate_types = CertificateType.__table__
consents = Consent.__table__
scores = CreditScore.__table__
flags = CreditFlag.__table__

KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
# Lists keyed by holder filter on both columns of their (holder_kind, holder_id) index: on the
# id alone the index is not used, and every list was a scan of its whole table.
KINDS: BindParameter[Any] = bindparam("kinds", expanding=True)

PERSONS = hot("persons", select(persons).where(persons.c.id_number.in_(KEYS)))

_ENTERPRISE = select(enterprises, persons.c.name.label("legal_rep_name")).join(
    persons, persons.c.id_number == enterprises.c.legal_rep_id_number
)
ENTERPRISES = hot("enterprises", _ENTERPRISE.where(enterprises.c.credit_code.in_(KEYS)))
ENTERPRISES_BY_REP = hot(
    "enterprises_by_rep",
    _ENTERPRISE.where(enterprises.c.legal_rep_id_number.in_(KEYS)).order_by(enterprises.c.name, enterprises.c.credit_code),
)

LICENCES = hot(
    "licences",
    select(licences, authorities.c.name.label("authority_name"))
    .join(authorities, authorities.c.code == licences.c.authority_code)
    .where(licences.c.holder_kind.in_(KINDS), licences.c.holder_id.in_(KEYS))
    .order_by(licences.c.decided_on.desc(), licences.c.decision_number),
)
PENALTIES = hot(
    "penalties",
    select(penalties, authorities.c.name.label("authority_name"))
    .join(authorities, authorities.c.code == penalties.c.authority_code)
    .where(penalties.c.holder_kind.in_(KINDS), penalties.c.holder_id.in_(KEYS))
    .order_by(penalties.c.decided_on.desc(), penalties.c.decision_number),
)
_CERTIFICATE = (
    select(
        certificates,
        certificate_types.c.name.label("type_name"),
        authorities.c.name.label("issuer_name"),
    )
    .join(certificate_types, certificate_types.c.code == certificates.c.type_code)
    .join(authorities, authorities.c.code == certificates.c.issuer_code)
)
CERTIFICATES_BY_HOLDER = hot(
    "certificates_by_holder",
    _CERTIFICATE.where(certificates.c.holder_kind.in_(KINDS), certificates.c.holder_id.in_(KEYS)).order_by(
        certificates.c.type_code, certificates.c.issued_on.desc(), certificates.c.identifier
    ),
)
CERTIFICATES = hot("certificates", _CERTIFICATE.where(certificates.c.identifier.in_(KEYS)))
status_changes = CertificateStatusChange.__table__
CERTIFICATE_HISTORY = hot(
    "certificate_history",
    select(status_changes, certificates.c.identifier)
    .join(certificates, certificates.c.id == status_changes.c.certificate_id)
    .where(certificates.c.identifier.in_(KEYS))
    .order_by(certificates.c.identifier, status_changes.c.at, status_changes.c.id),
)
CONSENTS = hot(
    "consents",
    select(consents, authorities.c.name.label("grantee_name"))
    .join(authorities, authorities.c.code == consents.c.grantee_code)
    .where(consents.c.holder_kind.in_(KINDS), consents.c.holder_id.in_(KEYS))
    .order_by(consents.c.granted_at.desc(), consents.c.id),
)
FLAGS = hot("flags", select(flags).where(flags.c.holder_kind.in_(KINDS), flags.c.holder_id.in_(KEYS)))
SCORES = hot("scores", select(scores).where(scores.c.holder_kind.in_(KINDS), scores.c.holder_id.in_(KEYS)))
access_records = AccessRecord.__table__
# (kind, holder id, page size, the id after which the page starts)
AccessKey = tuple[HolderKind, str, int, int | None]


def access_records_statement(keys: list[tuple[Any, ...]], first: int, after: int | None) -> Any:
    """Each holder's newest `first + 1` records after the cursor, in one statement for all holders."""
    ranked = (
        select(
            access_records,
            authorities.c.name.label("organisation_name"),
            func.row_number()
            .over(
                partition_by=(access_records.c.holder_kind, access_records.c.holder_id),
                order_by=access_records.c.id.desc(),
            )
            .label("rank"),
        )
        .outerjoin(authorities, authorities.c.code == access_records.c.organisation_code)
        .where(
            access_records.c.holder_kind.in_(sorted({str(k[0]) for k in keys})),
            access_records.c.holder_id.in_(sorted({k[1] for k in keys})),
        )
    )
    if after is not None:
        ranked = ranked.where(access_records.c.id < after)
    sub = ranked.subquery()
    return select(sub).where(sub.c.rank <= first + 1).order_by(sub.c.holder_id, sub.c.id.desc())


def _access_pages(db: RequestDatabase) -> Callable[[list[AccessKey]], Any]:
    async def load(keys: list[AccessKey]) -> list[Sequence[Row[Any]]]:
        pages: dict[AccessKey, list[Row[Any]]] = {k: [] for k in keys}
        by_window: dict[tuple[int, int | None], list[AccessKey]] = defaultdict(list)
        for k in keys:
            by_window[(k[2], k[3])].append(k)
        for (first, after), group in by_window.items():
            wanted = {(k[0], k[1]): k for k in group}
            for row in await db.rows(access_records_statement(group, first, after)):
                key = wanted.get((HolderKind(row.holder_kind), row.holder_id))
                if key is not None:
                    pages[key].append(row)
        return [pages[k] for k in keys]

    return load


def _holder_key(row: Row[Any]) -> HolderKey:
    return (HolderKind(row.holder_kind), row.holder_id)


def _params(keys: list[Any], id_of: Callable[[Any], str]) -> dict[str, list[str]]:
    params = {"keys": sorted({id_of(k) for k in keys})}
    if keys and isinstance(keys[0], tuple):  # holder keys: (kind, id)
        params["kinds"] = sorted({str(k[0]) for k in keys})
    return params


def _one_each(
    db: RequestDatabase, statement: Select[Any], key_of: Callable[[Row[Any]], Any], id_of: Callable[[Any], str] = str
) -> BatchLoader[Any, Row[Any] | None]:
    def pick(keys: list[Any], rows: Sequence[Row[Any]]) -> list[Row[Any] | None]:
        found = {key_of(row): row for row in rows}
        return [found.get(k) for k in keys]

    return _loader(db, statement, id_of, pick)


def _all_each(
    db: RequestDatabase, statement: Select[Any], key_of: Callable[[Row[Any]], Any], id_of: Callable[[Any], str] = str
) -> BatchLoader[Any, Sequence[Row[Any]]]:
    def group(keys: list[Any], rows: Sequence[Row[Any]]) -> list[Sequence[Row[Any]]]:
        groups: dict[Any, list[Row[Any]]] = defaultdict(list)
        for row in rows:  # the statement's order is kept inside each group
            groups[key_of(row)].append(row)
        return [groups.get(k, []) for k in keys]

    return _loader(db, statement, id_of, group)


def _loader(
    db: RequestDatabase,
    statement: Select[Any],
    id_of: Callable[[Any], str],
    answer: Callable[[list[Any], Sequence[Row[Any]]], list[Any]],
) -> BatchLoader[Any, Any]:
    """One statement per batch; on SQLite, read at once (app/db/request.py reads it on the loop);
    on PostgreSQL, sent with the other reads asked for in the same turn."""
    if db.reads_now:

        def fetch(keys: list[Any]) -> list[Any]:
            return answer(keys, db.rows_now(statement, _params(keys, id_of)))

        return BatchLoader(fetch)

    def fetch_soon(keys: list[Any]) -> Any:
        return db.rows_soon(statement, _params(keys, id_of), lambda rows: answer(keys, rows))

    return BatchLoader(fetch_soon=fetch_soon)


def _holder_id(key: HolderKey) -> str:
    return key[1]


# What a subject's fields read (app/schema/person.py, enterprise.py): the loader each one loads
# the subject's key (kind, id) from. The gate asks for them with the subject's consent.
SUBJECT_FIELD_READS: Mapping[str, str] = MappingProxyType({
    "Person.creditScore": "score", "Person.licences": "licences", "Person.penalties": "penalties",
    "Person.certificates": "certificates",
    "Enterprise.creditScore": "score", "Enterprise.licences": "licences", "Enterprise.penalties": "penalties",
    "Enterprise.certificates": "certificates",
})  # fmt: skip


class Loaders:
    """The request's loaders, each made when first used: a query touches a few of them."""

    def __init__(self, db: RequestDatabase) -> None:
        self._db = db

    def reading(self, field: str) -> BatchLoader[HolderKey, Any] | None:
        """The loader the subject's field `Type.field` reads with (SUBJECT_FIELD_READS), if any."""
        name = SUBJECT_FIELD_READS.get(field)
        return None if name is None else getattr(self, name)

    @cached_property
    def person(self) -> BatchLoader[str, Row[Any] | None]:
        return _one_each(self._db, PERSONS, lambda r: r.id_number)

    @cached_property
    def enterprise(self) -> BatchLoader[str, Row[Any] | None]:
        return _one_each(self._db, ENTERPRISES, lambda r: r.credit_code)

    @cached_property
    def enterprises_by_rep(self) -> BatchLoader[str, Sequence[Row[Any]]]:
        return _all_each(self._db, ENTERPRISES_BY_REP, lambda r: r.legal_rep_id_number)

    @cached_property
    def certificate(self) -> BatchLoader[str, Row[Any] | None]:
        return _one_each(self._db, CERTIFICATES, lambda r: r.identifier)

    @cached_property
    def certificate_history(self) -> BatchLoader[str, Sequence[Row[Any]]]:
        return _all_each(self._db, CERTIFICATE_HISTORY, lambda r: r.identifier)

    @cached_property
    def licences(self) -> BatchLoader[HolderKey, Sequence[Row[Any]]]:
        return _all_each(self._db, LICENCES, _holder_key, _holder_id)

    @cached_property
    def penalties(self) -> BatchLoader[HolderKey, Sequence[Row[Any]]]:
        return _all_each(self._db, PENALTIES, _holder_key, _holder_id)

    @cached_property
    def certificates(self) -> BatchLoader[HolderKey, Sequence[Row[Any]]]:
        return _all_each(self._db, CERTIFICATES_BY_HOLDER, _holder_key, _holder_id)

    @cached_property
    def consents(self) -> BatchLoader[HolderKey, Sequence[Row[Any]]]:
        return _all_each(self._db, CONSENTS, _holder_key, _holder_id)

    @cached_property
    def flags(self) -> BatchLoader[HolderKey, Sequence[Row[Any]]]:
        return _all_each(self._db, FLAGS, _holder_key, _holder_id)

    @cached_property
    def score(self) -> BatchLoader[HolderKey, Row[Any] | None]:
        return _one_each(self._db, SCORES, _holder_key, _holder_id)

    @cached_property
    def access_records(self) -> BatchLoader[AccessKey, Sequence[Row[Any]]]:
        return BatchLoader(fetch_async=_access_pages(self._db))
