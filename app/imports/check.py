"""The first pass of an import: every line checked, and every reference resolved, before any write.

Within a line, `kinds.py` checks fields. Across lines, this module checks that each natural key
is given once, that every holder, legal representative and authority a line names is on
file or given somewhere in the input (before or after it), and that a certificate's document
is its issuer's signature over that very line. It keeps keys only (`seen.py`), never rows, so
memory grows with the number of records, not their size, and slowly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.certificates.keys import DEV_KEYS, KeyStore
from app.certificates.signing import InvalidDocument, payload_mismatches, verify_document
from app.db.models import Authority, CertificateType, Enterprise, Person, SigningKey
from app.domain.enums import AuthorityType, HolderKind
from app.i18n import Text
from app.imports.certificate import signed_content
from app.imports.kinds import KINDS
from app.imports.record import CatalogueEntry, Holder, ParseContext, Record
from app.imports.report import BadLine
from app.imports.seen import Seen

# A line's place in the input: (source index, line number); sorted, it is input order.
Loc = tuple[int, int]
BATCH = 500  # keys per IN (...) lookup: inside every database's bound-parameter limit
SCORED_TOGETHER = 20_000  # subjects whose scores are recomputed in one call

KEYS: BindParameter[list[str]] = bindparam("keys", expanding=True)


@dataclass(frozen=True)
class OnFile:
    """What the database already holds that lines may refer to (all small reference tables)."""

    catalogue: dict[str, CatalogueEntry]
    authorities: dict[str, AuthorityType]
    jwks: dict[str, Any]  # every issuer's public keys
    has_keys: frozenset[str]  # authorities with a signing key on file
    signs_here: frozenset[str]  # those of them whose current private key is held here
    makes_keys: bool = True  # dev: an issuer without a key gets one at its first signature


async def load_on_file(conn: AsyncConnection, store: KeyStore = DEV_KEYS) -> OnFile:
    """The catalogue, the authorities and the issuers' keys."""
    t, a, k = CertificateType.__table__, Authority.__table__, SigningKey.__table__
    catalogue = {
        r.code: CatalogueEntry(r.national_code, HolderKind(r.holder_kind))
        for r in await conn.execute(select(t.c.code, t.c.national_code, t.c.holder_kind))
    }
    authorities = {
        r.code: AuthorityType(r.authority_type) for r in await conn.execute(select(a.c.code, a.c.authority_type))
    }
    keys = (await conn.execute(select(k.c.authority_code, k.c.kid, k.c.public_jwk, k.c.private_pem, k.c.retired_at))).all()
    if store.in_database:
        signs_here = frozenset(r.authority_code for r in keys if r.private_pem and r.retired_at is None)
    else:
        held = store.load_directory() if store.directory is not None and store.directory.is_dir() else {}
        signs_here = frozenset(r.authority_code for r in keys if r.retired_at is None and r.kid.split(".", 1)[1] in held)
    return OnFile(
        catalogue=catalogue,
        authorities=authorities,
        jwks={"keys": [dict(r.public_jwk) for r in keys]},
        has_keys=frozenset(r.authority_code for r in keys),
        signs_here=signs_here,
        makes_keys=store.in_database,
    )


@dataclass
class Checked:
    """What the check found, and what the writing pass needs from it."""

    bad: dict[Loc, list[str]] = field(default_factory=lambda: defaultdict(list))
    authority_rows: list[dict[str, Any]] = field(default_factory=list)  # written first: others refer to them
    deferred: set[Loc] = field(default_factory=set)  # enterprises whose representative comes later
    # Subjects whose scores may change: those the input gives, and those its lines refer to.
    persons: set[str] = field(default_factory=set)
    enterprises: set[str] = field(default_factory=set)
    referred: set[Holder] = field(default_factory=set)
    issuers: set[str] = field(default_factory=set)  # of the certificates: their turns are taken first
    counts: Counter[str] = field(default_factory=Counter)

    def bad_lines(self, names: list[str]) -> list[BadLine]:
        return [BadLine(names[loc[0]], loc[1], tuple(reasons)) for loc, reasons in sorted(self.bad.items())]

    def touched_batches(self, also: Iterable[Holder] = ()) -> Iterator[tuple[set[Holder], bool]]:
        """The subjects given or referred to, and `also`, in sets of at most SCORED_TOGETHER, each
        subject once: a million of them are never all built at once. With each set, whether its
        subjects are on file for sure (those the input gives, once written) or are to be looked
        up (the others, few: referred to, or previous holders)."""
        size = SCORED_TOGETHER
        extra = {h for h in (*self.referred, *also) if h[1] not in self._given(h[0])}
        for kind, ids in ((HolderKind.PERSON, self.persons), (HolderKind.ENTERPRISE, self.enterprises)):
            batch: set[Holder] = set()
            for i in ids:
                batch.add((kind, i))
                if len(batch) >= size:
                    yield batch, True
                    batch = set()
            if batch:
                yield batch, True
        if extra:
            yield extra, False

    def touched_count(self, also: Iterable[Holder] = ()) -> int:
        extra = {h for h in (*self.referred, *also) if h[1] not in self._given(h[0])}
        return len(self.persons) + len(self.enterprises) + len(extra)

    def _given(self, kind: HolderKind) -> set[str]:
        return self.persons if kind is HolderKind.PERSON else self.enterprises


class Checker:
    """Collects the good records' keys and references, then resolves them against the database."""

    def __init__(self, on_file: OnFile, names: list[str]) -> None:
        self.on_file = on_file
        self.names = names
        self.ctx = ParseContext(on_file.catalogue)
        self.seen = Seen()
        self.result = Checked(persons=self.seen.exact["person"], enterprises=self.seen.exact["enterprise"])
        # Subjects named on bad lines: lines that refer to them are not blamed a second time.
        self.on_bad_lines: set[Holder] = set()
        self.wanted_holders: dict[Holder, list[Loc]] = defaultdict(list)
        self.wanted_reps: dict[str, list[Loc]] = defaultdict(list)
        self.wanted_authorities: dict[str, list[Loc]] = defaultdict(list)

    def bad(self, loc: Loc, reasons: Iterable[Text | str], subject: Holder | None = None) -> None:
        """A bad line; `subject` is the person or enterprise it would have given, if known. The
        reasons found across lines, here, are for the import report only, and in English: unlike
        a line's own (kinds.py), they never reach an API caller."""
        self.result.bad[loc].extend(map(str, reasons))  # the report is for operators: in English
        if subject:
            self.on_bad_lines.add(subject)

    def given(self, holder: Holder) -> bool:
        """Whether this subject is on a good line read so far."""
        return self.seen.given(holder)

    def add(self, loc: Loc, record: Record) -> None:
        """A record that parsed: check what can be checked now, note what must wait for the end.

        A key given twice is found at the end (`resolve`); the line is still checked here, so
        that every reason is told.
        """
        if self.seen.add(record):
            self.result.counts[record.kind] += 1
            if record.kind == "authority":
                self.result.authority_rows.append(record.row)
        if record.holder and record.kind not in ("person", "enterprise") and not self.given(record.holder):
            self.wanted_holders[record.holder].append(loc)
        if record.legal_rep and not self.given((HolderKind.PERSON, record.legal_rep)):
            self.wanted_reps[record.legal_rep].append(loc)
        for code in record.authorities:
            if code not in self.on_file.authorities and not self.seen.authority_given(code):
                self.wanted_authorities[code].append(loc)
        if record.kind == "certificate":
            self.result.issuers.add(record.row["issuer_code"])
            self._check_signing(loc, record)

    def _check_signing(self, loc: Loc, record: Record) -> None:
        issuer = record.row["issuer_code"]
        if record.document is None:
            held = issuer in self.on_file.signs_here
            if not held and (issuer in self.on_file.has_keys or not self.on_file.makes_keys):
                self.bad(
                    loc,
                    [f"issuer {issuer} signs its own certificates (its private key is not held here): give document"],
                )
            return
        if issuer not in self.on_file.has_keys:
            self.bad(loc, [f"no signing key of issuer {issuer} is on file to check the document against"])
            return
        try:
            payload = verify_document(record.document, self.on_file.jwks)
        except InvalidDocument as e:
            self.bad(loc, [f"document: {e}"])
            return
        differ = payload_mismatches(payload, signed_content(record.row))
        if differ:
            self.bad(loc, [f"document: its signed content differs from this line in {', '.join(differ)}"])

    def any_bad(self) -> bool:
        """Whether a bad line has been found so far (a key given twice is found only at `resolve`)."""
        return bool(self.result.bad)

    async def resolve(
        self, conn: AsyncConnection, read_again: Callable[[], Iterable[tuple[Loc, Record | Exception]]]
    ) -> Checked:
        """Settle every reference not yet seen: given later in the input, on file, or a bad line.

        `read_again` reads the input once more; it is called only when some key may be given
        twice, to name the lines that give it.
        """
        candidates = self.seen.candidates()
        if candidates:
            for loc, kind, key, first in self.seen.repeated(candidates, read_again()):
                # Ambiguous: which of the two is right? Told first, before the line's other reasons.
                at = f"{self.names[first[0]]}:{first[1]}"
                reason = f"{KINDS[kind].label} {_show(key)} is also given at {at}; give each record once"
                self.result.bad[loc].insert(0, reason)
        for code, locs in self.wanted_authorities.items():
            if not self.seen.authority_given(code):
                for loc in locs:
                    self.bad(loc, [f"authority {code} is not on file, nor given in this import"])
        unseen = {h for h in self.wanted_holders if not self.given(h)}
        unseen_reps = {p for p in self.wanted_reps if not self.given((HolderKind.PERSON, p))}
        on_file = await _existing(
            conn, HolderKind.PERSON, {h[1] for h in unseen if h[0] is HolderKind.PERSON} | unseen_reps
        )
        on_file |= await _existing(conn, HolderKind.ENTERPRISE, {h[1] for h in unseen if h[0] is HolderKind.ENTERPRISE})
        for holder in unseen - on_file - self.on_bad_lines:
            for loc in self.wanted_holders[holder]:
                self.bad(loc, [f"holder {holder[0]} {holder[1]} is not on file, nor given in this import"])
        self.result.referred = set(self.wanted_holders)
        for rep, locs in self.wanted_reps.items():
            if (HolderKind.PERSON, rep) in on_file:
                continue
            if self.given((HolderKind.PERSON, rep)):
                self.result.deferred.update(locs)  # the person comes later in the input: write them first
            elif (HolderKind.PERSON, rep) not in self.on_bad_lines:
                for loc in locs:
                    self.bad(loc, [f"legal_rep_id_number {rep} is not a person on file, nor given in this import"])
        return self.result


async def _existing(conn: AsyncConnection, kind: HolderKind, ids: set[str]) -> set[Holder]:
    """Which of these subjects are on file, looked up in batches."""
    key = Person.__table__.c.id_number if kind is HolderKind.PERSON else Enterprise.__table__.c.credit_code
    found: set[Holder] = set()
    for chunk in _chunks(sorted(ids), BATCH):
        found.update(
            (kind, i) for i in (await conn.execute(select(key).where(key.in_(KEYS)), {"keys": chunk})).scalars()
        )
    return found


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _show(key: tuple[Any, ...]) -> str:
    return " ".join(str(k) for k in key)
