"""The one gate between a caller and a subject: applies SUBJECT_REACH (app/auth/policy.py).

At the root, resolvers ask the gate for a subject's row; the gate answers with the row, None
(no such subject, where the caller may know that), or raises FORBIDDEN / CONSENT_REQUIRED /
CASE_NUMBER_REQUIRED. Rights are checked before existence wherever existence itself is
something the caller may not learn.

Wherever a query leads from one subject to another (an enterprise's legal representative,
a person's enterprises), `link` applies the same rules again: a bank needs that subject's own
consent, a citizen must still be looking at self.

Each subject asked for, at the root or through a link, goes into the request's audit record
once: reached, not found or refused, under the purpose, consent and case it was reached under
(a consent only once checked against this very subject), or, refused, under what the caller
claimed (`_attempt`; app/audit/record.py says how entries and access records keep them).

Actions (a mutation's grant a consent, issue a certificate, ...) are allowed or refused, with
the reason, by `authorize`, which applies ACTION_POLICY.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, bindparam, select

from app import clock
from app.audit.record import NO_CONTEXT, AccessContext, AuditRecord, State
from app.auth.enforce import View
from app.auth.policy import ACTION_POLICY, FIELD_POLICY, SUBJECT_REACH, Action, Condition, Grant, Reach, Subject
from app.auth.roles import Role
from app.auth.tokens import Principal
from app.db.hot import hot
from app.db.models import Consent
from app.db.request import RequestDatabase
from app.domain.enums import BANK_PURPOSES, HolderKind, Purpose
from app.errors import BadUserInput, CaseNumberRequired, ConsentRequired, Forbidden, XinzhengError
from app.i18n import Text
from app.identifiers import InvalidIdentifier, parse_text

if TYPE_CHECKING:
    from app.resolvers.loaders import Loaders
    from app.schema.access import AccessInput

consents = Consent.__table__
# Run for every request that names a consent: a hot read, on the driver (app/db/hot.py).
CONSENT_BY_ID = hot("consent_by_id", select(consents).where(consents.c.id == bindparam("id")))

MAX_CASE_NUMBER = 64
MAX_CONSENT_ID = 64
CERTIFICATE = Subject.CERTIFICATE.upper()


@dataclass
class Attempt:
    """What became of one subject the gate was asked for (`Gate._attempt` records it)."""

    context: AccessContext = NO_CONTEXT
    found: bool = False
    is_self: bool = False


class Gate:
    def __init__(self, principal: Principal, audit: AuditRecord, db: RequestDatabase, loaders: Loaders) -> None:
        self.principal = principal
        self.audit = audit
        self.db = db
        self.loaders = loaders

    async def authorize(self, action: Action, *, holder: tuple[HolderKind, str] | None = None, authority: str | None = None) -> None:
        """Allow `action` on a resource (its subject `holder`, or the `authority` it is under) or
        raise FORBIDDEN with the reason, as ACTION_POLICY says."""
        role = self.principal.role
        condition = ACTION_POLICY[action].get(role)
        if condition is None:
            raise Forbidden("access.role_may_not", role=role, action=action)
        if condition is Condition.OWN_SUBJECT and (holder is None or not await self.is_self(*holder)):
            raise Forbidden("access.citizen_acts_for_own", action=action)
        if condition is Condition.OWN_AUTHORITY and (authority is None or authority != self.principal.org):
            raise Forbidden("access.issuer_own_authority", action=action)

    def root_view(self, access: AccessInput | None) -> View:
        """The column for a subject the caller reached at the root: its own role's."""
        return View(self.principal.role, access)

    def _reach(self, subject: Subject, column: Role | None = None) -> Reach:
        role = column or self.principal.role
        reach = SUBJECT_REACH[role][subject]
        if reach is Reach.NONE:
            raise Forbidden("access.role_cannot_read", role=role, subject=Text(f"subject.{subject}"))
        return reach

    @contextlib.contextmanager
    def _attempt(self, kind: str, key: str, claimed: AccessContext) -> Iterator[Attempt]:
        """Around the asking for one subject: it is recorded once, with what became of it, under
        the context it was reached under, or, refused, under the one the caller claimed."""
        attempt = Attempt()
        try:
            yield attempt
        except (XinzhengError, InvalidIdentifier):  # refused, or a bad access argument (BAD_USER_INPUT)
            self.audit.subject(kind, key, State.REFUSED, claimed)
            raise
        except BaseException:
            self.audit.subject(kind, key, State.FAILED, claimed)
            raise
        state = State.REACHED if attempt.found else State.NOT_FOUND
        self.audit.subject(kind, key, state, attempt.context, is_self=attempt.is_self)

    async def person(self, id_number: str, access: AccessInput | None, fields: Iterable[str] = ()) -> Row[Any] | None:
        """The person's row, if the caller may reach them; `fields`, the Person fields the query
        selects, whose rows are asked for with the consent (`_reads_soon`)."""
        with self._attempt(HolderKind.PERSON, id_number, AccessContext.claimed(access)) as attempt:
            reach = self._reach(Subject.PERSON)
            if reach is Reach.SELF and id_number != self.principal.id_number:
                raise Forbidden("access.citizen_own_data")
            row_soon = self.loaders.person.load(id_number)  # with the consent, in one trip (`_asked_with`)
            self._reads_soon("Person", (HolderKind.PERSON, id_number), fields)
            attempt.context = await _asked_with(row_soon, self._context(reach, HolderKind.PERSON, id_number, access))
            row = await row_soon
            attempt.found, attempt.is_self = row is not None, reach is Reach.SELF
        return row

    async def enterprise(self, credit_code: str, access: AccessInput | None, fields: Iterable[str] = ()) -> Row[Any] | None:
        """The enterprise's row, if the caller may reach it; `fields` as for `person`."""
        with self._attempt(HolderKind.ENTERPRISE, credit_code, AccessContext.claimed(access)) as attempt:
            reach = self._reach(Subject.ENTERPRISE)
            row_soon = self.loaders.enterprise.load(credit_code)  # with the consent, in one trip (`_asked_with`)
            self._reads_soon("Enterprise", (HolderKind.ENTERPRISE, credit_code), fields)
            attempt.context = await _asked_with(row_soon, self._context(reach, HolderKind.ENTERPRISE, credit_code, access))
            row = await row_soon
            if reach is Reach.SELF and (row is None or row.legal_rep_id_number != self.principal.id_number):
                raise Forbidden("access.citizen_own_or_represented")
            attempt.found, attempt.is_self = row is not None, reach is Reach.SELF
        return row

    async def certificate(self, identifier: str, access: AccessInput | None) -> Row[Any] | None:
        with self._attempt(CERTIFICATE, identifier, AccessContext.claimed(access)) as attempt:
            reach = self._reach(Subject.CERTIFICATE)
            attempt.context = context = self._named(reach, access)
            row = await self.loaders.certificate.load(identifier)
            if reach is Reach.ISSUED and (row is None or row.issuer_code != self.principal.org):
                raise Forbidden("access.issuer_own_certificates")
            if reach is Reach.SELF and (row is None or not await self.is_self(HolderKind(row.holder_kind), row.holder_id)):
                raise Forbidden("access.citizen_own_certificates")
            attempt.found = row is not None
        if row is not None:
            # Reading a certificate is reading its holder's data, under the certificate's context.
            self.audit.subject(row.holder_kind, row.holder_id, State.REACHED, context, is_self=reach is Reach.SELF)
        return row

    async def link(self, parent: View, subject: Subject, kind: HolderKind, holder_id: str) -> View:
        """The view of a subject reached from another one, or the reason it may not be.

        The subject is reached under the root's purpose and case; a bank's, under the subject's
        own consent, which is the one recorded (the root's covers the root only)."""
        access = parent.access
        purpose = getattr(access, "purpose", None)
        claimed = AccessContext.of(purpose, None, getattr(access, "case_number", None))
        with self._attempt(kind, holder_id, claimed) as attempt:
            reach = self._reach(subject, parent.role)
            if reach is Reach.SELF and not await self.is_self(kind, holder_id):
                raise Forbidden("access.citizen_own_or_represented")
            if reach is Reach.ISSUED:
                raise Forbidden("access.issuer_no_subject", subject=Text(f"subject.{subject}"))
            attempt.context = claimed
            if reach is Reach.CONSENT:
                held = await self.loaders.consents.load((kind, holder_id))
                now = clock.now()
                covering = [c for c in held if purpose is not None and consent_covers(c, kind, holder_id, self.principal.org, purpose, now)]
                if not covering:
                    raise ConsentRequired("access.no_consent_from", subject=Text(f"subject.{subject}"))
                attempt.context = AccessContext.of(purpose, covering[0].id, claimed.case_number)
            # ANY, and CASE: the case named at the root covers the subjects it leads to.
            attempt.found, attempt.is_self = True, reach is Reach.SELF
        return parent

    async def is_self(self, kind: HolderKind, holder_id: str) -> bool:
        """The subject is the caller: their own person, or an enterprise they legally represent."""
        if kind is HolderKind.PERSON:
            return holder_id == self.principal.id_number
        enterprise = await self.loaders.enterprise.load(holder_id)
        return enterprise is not None and enterprise.legal_rep_id_number == self.principal.id_number

    async def _context(self, reach: Reach, kind: HolderKind, holder_id: str, access: AccessInput | None) -> AccessContext:
        """The context a subject is reached under at the root, or the reason it may not be."""
        named = self._named(reach, access)
        if reach is not Reach.CONSENT:
            return named
        consent = await self._consent(kind, holder_id, access)
        return AccessContext.of(named.purpose, consent.id, named.case_number)

    def _named(self, reach: Reach, access: AccessInput | None) -> AccessContext:
        """The purpose and case the caller names, checked as text; the case, where the role
        needs one. A consent counts only once checked (`_consent`), so it is not among them.
        Text no database stores is BAD_USER_INPUT for every role, as the entry records the
        attempt with it escaped (app/audit/redact.py)."""
        if access is not None and access.consent_id is not None:
            parse_text(str(access.consent_id), "what.consent_id", MAX_CONSENT_ID)
        case = self._case_number(access) if reach is Reach.CASE else None
        if case is None and access is not None and access.case_number is not None and access.case_number.strip():
            case = parse_text(access.case_number, "what.case_number", MAX_CASE_NUMBER)
        return AccessContext.of(access.purpose if access is not None else None, None, case)

    def _case_number(self, access: AccessInput | None) -> str:
        case = (access.case_number or "").strip() if access else ""
        if not case:
            raise CaseNumberRequired("access.case_number_required")
        return parse_text(case, "what.case_number", MAX_CASE_NUMBER)

    async def _consent(self, kind: HolderKind, holder_id: str, access: AccessInput | None) -> Row[Any]:
        if access is None or access.purpose is None or access.consent_id is None:
            raise ConsentRequired("access.consent_needed")
        if access.purpose not in BANK_PURPOSES:
            raise BadUserInput("access.bank_purpose", purpose=access.purpose)
        consent_id = parse_text(str(access.consent_id), "what.consent_id", MAX_CONSENT_ID)
        rows = await self.db.rows(CONSENT_BY_ID, {"id": consent_id})
        consent = rows[0] if rows else None
        if consent is None or not consent_covers(consent, kind, holder_id, self.principal.org, access.purpose, clock.now()):
            raise ConsentRequired("access.no_consent")
        return consent

    def _reads_soon(self, type_name: str, key: tuple[HolderKind, str], fields: Iterable[str]) -> None:
        """Ask now for the rows these selected fields of the subject will read, so that on
        PostgreSQL they go in the round trip of its row and its consent (app/db/request.py) and
        not in one after it. As with the subject's row (`_asked_with`), nothing of them is looked
        at unless the caller may reach the subject: the fields' resolvers, run only then, take
        them from the loaders. A field the caller's role is denied is not read at all. On SQLite
        every read is made at once, so there a refused subject's rows would be read for nothing:
        the fields read them as they resolve."""
        if self.db.reads_now:
            return
        role = self.principal.role
        for name in fields:
            field = f"{type_name}.{name}"
            loader = self.loaders.reading(field)
            if loader is not None and FIELD_POLICY[field].grants[role] is not Grant.DENIED:
                loader.load(key).add_done_callback(_let_go)


async def _asked_with(row_soon: asyncio.Future[Any], context: Coroutine[Any, Any, AccessContext]) -> AccessContext:
    """The context a subject is reached under, its row asked for at the same time.

    On PostgreSQL the reads asked for in one turn of the loop go in one round trip
    (app/db/request.py), so the subject's row is asked for before its consent is read, not
    after. Nothing of the row is looked at unless the context allows it; refused, the row is
    let go (its loader's answer retrieved, so that a failed read is not reported as unheeded).
    """
    try:
        return await context
    except BaseException:
        row_soon.add_done_callback(_let_go)
        raise


def _let_go(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def consent_covers(
    consent: Any, kind: HolderKind, holder_id: str, org: str | None, purpose: Purpose, now: dt.datetime
) -> bool:
    """The consent was given by this subject, to this organisation, for this purpose, and is in force."""
    return (
        consent.holder_kind == kind
        and consent.holder_id == holder_id
        and consent.grantee_code == org
        and purpose in consent.purposes
        and consent.revoked_at is None
        and consent.granted_at <= now
        and (consent.valid_until is None or now < consent.valid_until)
    )
