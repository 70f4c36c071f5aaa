"""The one gate between a caller and a subject: applies SUBJECT_REACH (app/auth/policy.py).

At the root, resolvers ask the gate for a subject's row; the gate answers with the row, None
(no such subject, where the caller may know that), or raises FORBIDDEN / CONSENT_REQUIRED /
CASE_NUMBER_REQUIRED. Rights are checked before existence wherever existence itself is
something the caller may not learn.

Wherever a query leads from one subject to another (an enterprise's legal representative,
a person's enterprises), `link` applies the same rules again: a bank needs that subject's own
consent, a citizen must still be looking at self.

Actions (a mutation's grant a consent, issue a certificate, ...) are allowed or refused, with
the reason, by `authorize`, which applies ACTION_POLICY.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, bindparam, select

from app import clock
from app.audit.record import AuditRecord
from app.auth.enforce import View
from app.auth.policy import ACTION_POLICY, SUBJECT_REACH, Action, Condition, Reach, Subject
from app.auth.roles import Role
from app.auth.tokens import Principal
from app.db.hot import hot
from app.db.models import Consent
from app.db.request import RequestDatabase
from app.domain.enums import BANK_PURPOSES, HolderKind, Purpose
from app.errors import BadUserInput, CaseNumberRequired, ConsentRequired, Forbidden
from app.identifiers import parse_text

if TYPE_CHECKING:
    from app.resolvers.loaders import Loaders
    from app.schema.access import AccessInput

consents = Consent.__table__
# Run for every request that names a consent: a hot read, on the driver (app/db/hot.py).
CONSENT_BY_ID = hot("consent_by_id", select(consents).where(consents.c.id == bindparam("id")))

MAX_CASE_NUMBER = 64
MAX_CONSENT_ID = 64


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
            raise Forbidden(f"the {role} role may not do {action}")
        if condition is Condition.OWN_SUBJECT and (holder is None or not await self.is_self(*holder)):
            raise Forbidden(f"{action}: a citizen acts for self and the enterprises they represent only")
        if condition is Condition.OWN_AUTHORITY and (authority is None or authority != self.principal.org):
            raise Forbidden(f"{action}: an issuing department acts on its own authority's records only")

    def root_view(self, access: AccessInput | None) -> View:
        """The column for a subject the caller reached at the root: its own role's."""
        return View(self.principal.role, access)

    def _reach(self, subject: Subject, column: Role | None = None) -> Reach:
        role = column or self.principal.role
        reach = SUBJECT_REACH[role][subject]
        if reach is Reach.NONE:
            raise Forbidden(f"the {role} role cannot read {subject} data")
        return reach

    def _touch(self, kind: str, key: str, *, reached: bool, is_self: bool = False) -> None:
        self.audit.subject(kind, key, reached=reached, is_self=is_self)

    async def person(self, id_number: str, access: AccessInput | None) -> Row[Any] | None:
        self.audit.access(access)
        self._touch(HolderKind.PERSON, id_number, reached=False)  # attempts are in the log too
        reach = self._reach(Subject.PERSON)
        if reach is Reach.SELF and id_number != self.principal.id_number:
            raise Forbidden("a citizen reads their own data only")
        await self._context(reach, HolderKind.PERSON, id_number, access)
        row = await self.loaders.person.load(id_number)
        self._touch(HolderKind.PERSON, id_number, reached=row is not None, is_self=reach is Reach.SELF)
        return row

    async def enterprise(self, credit_code: str, access: AccessInput | None) -> Row[Any] | None:
        self.audit.access(access)
        self._touch(HolderKind.ENTERPRISE, credit_code, reached=False)
        reach = self._reach(Subject.ENTERPRISE)
        await self._context(reach, HolderKind.ENTERPRISE, credit_code, access)
        row = await self.loaders.enterprise.load(credit_code)
        if reach is Reach.SELF and (row is None or row.legal_rep_id_number != self.principal.id_number):
            raise Forbidden("a citizen reads their own data and the enterprises they represent only")
        self._touch(HolderKind.ENTERPRISE, credit_code, reached=row is not None, is_self=reach is Reach.SELF)
        return row

    async def certificate(self, identifier: str, access: AccessInput | None) -> Row[Any] | None:
        self.audit.access(access)
        self._touch(Subject.CERTIFICATE.upper(), identifier, reached=False)
        reach = self._reach(Subject.CERTIFICATE)
        if reach is Reach.CASE:
            self._case_number(access)
        row = await self.loaders.certificate.load(identifier)
        if reach is Reach.ISSUED and (row is None or row.issuer_code != self.principal.org):
            raise Forbidden("an issuer reads the certificates its own authority issued only")
        if reach is Reach.SELF and (row is None or not await self.is_self(HolderKind(row.holder_kind), row.holder_id)):
            raise Forbidden("a citizen reads their own certificates only")
        if row is not None:
            # Reading a certificate is reading its holder's data.
            self._touch(row.holder_kind, row.holder_id, reached=True, is_self=reach is Reach.SELF)
        return row

    async def link(self, parent: View, subject: Subject, kind: HolderKind, holder_id: str) -> View:
        """The view of a subject reached from another one, or the reason it may not be."""
        self._touch(kind, holder_id, reached=False)
        reach = self._reach(subject, parent.role)
        if reach is Reach.SELF and not await self.is_self(kind, holder_id):
            raise Forbidden("a citizen reads their own data and the enterprises they represent only")
        if reach is Reach.CONSENT:
            purpose = getattr(parent.access, "purpose", None)
            held = await self.loaders.consents.load((kind, holder_id))
            now = clock.now()
            if purpose is None or not any(
                consent_covers(c, kind, holder_id, self.principal.org, purpose, now) for c in held
            ):
                raise ConsentRequired(f"no consent in force from this {subject} to this organisation for this purpose")
        if reach is Reach.ISSUED:
            raise Forbidden(f"an issuer reads no {subject} data")
        # ANY, and CASE: the case named at the root covers the subjects it leads to.
        self._touch(kind, holder_id, reached=True, is_self=reach is Reach.SELF)
        return parent

    async def is_self(self, kind: HolderKind, holder_id: str) -> bool:
        """The subject is the caller: their own person, or an enterprise they legally represent."""
        if kind is HolderKind.PERSON:
            return holder_id == self.principal.id_number
        enterprise = await self.loaders.enterprise.load(holder_id)
        return enterprise is not None and enterprise.legal_rep_id_number == self.principal.id_number

    async def _context(self, reach: Reach, kind: HolderKind, holder_id: str, access: AccessInput | None) -> None:
        if reach is Reach.CONSENT:
            await self._consent(kind, holder_id, access)
        elif reach is Reach.CASE:
            self._case_number(access)

    def _case_number(self, access: AccessInput | None) -> str:
        case = (access.case_number or "").strip() if access else ""
        if not case:
            raise CaseNumberRequired("a service counter names the case it handles (access.caseNumber)")
        return parse_text(case, "a case number", MAX_CASE_NUMBER)

    async def _consent(self, kind: HolderKind, holder_id: str, access: AccessInput | None) -> Row[Any]:
        if access is None or access.purpose is None or access.consent_id is None:
            raise ConsentRequired("a bank names its purpose and the subject's consent (access.purpose, access.consentId)")
        if access.purpose not in BANK_PURPOSES:
            raise BadUserInput(f"a bank cannot query for {access.purpose}")
        consent_id = parse_text(str(access.consent_id), "a consent id", MAX_CONSENT_ID)
        rows = await self.db.rows(CONSENT_BY_ID, {"id": consent_id})
        consent = rows[0] if rows else None
        if consent is None or not consent_covers(consent, kind, holder_id, self.principal.org, access.purpose, clock.now()):
            raise ConsentRequired("no consent in force from this subject to this organisation for this purpose")
        return consent


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
