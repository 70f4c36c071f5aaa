"""Consents (授权书): a citizen grants and revokes them, for self and for enterprises they represent."""

from __future__ import annotations

import uuid

import strawberry
from sqlalchemy import select, update
from strawberry.types import Info

from app import clock
from app.auth.policy import Action
from app.context import Context
from app.db.models import Authority, Consent
from app.domain.enums import BANK_PURPOSES, AuthorityType, HolderKind
from app.auth.gate import MAX_CONSENT_ID
from app.errors import BadUserInput, Forbidden
from app.identifiers import parse_credit_code, parse_holder_id, parse_text
from app.resolvers.loaders import CONSENTS
from app.schema.consent import ConsentType, GrantConsentInput

consents = Consent.__table__
authorities = Authority.__table__
MAX_PURPOSES = 8


async def grant_consent(info: Info[Context, None], input: GrantConsentInput) -> ConsentType:
    """Authorise an organisation to query the holder's data for the given purposes until validUntil."""
    kind = HolderKind(input.holder_kind)
    holder_id = parse_holder_id(kind, input.holder_id)
    grantee = parse_credit_code(input.grantee_code)
    purposes = sorted(set(input.purposes))
    if not purposes or len(purposes) > MAX_PURPOSES:
        raise BadUserInput("consent.no_purpose")
    now = clock.now()
    if input.valid_until.tzinfo is None:
        raise BadUserInput("consent.valid_until_zone")
    if input.valid_until <= now:
        raise BadUserInput("consent.valid_until_past")
    await info.context.gate.authorize(Action.CONSENT_GRANT, holder=(kind, holder_id))
    db = info.context.db
    found = await db.rows(select(authorities).where(authorities.c.code == grantee))
    if not found:
        raise BadUserInput("consent.unknown_grantee", grantee=grantee)
    if found[0].authority_type != AuthorityType.BANK:
        # 征信业管理条例: consent to a credit query is given to a bank (a credit user) only.
        raise BadUserInput("consent.grantee_not_bank", grantee=grantee)
    if not set(purposes) <= BANK_PURPOSES:
        bad = ", ".join(p for p in purposes if p not in BANK_PURPOSES)
        raise BadUserInput("consent.bank_purpose", purposes=bad)
    consent_id = str(uuid.uuid4())
    async with db.transaction() as conn:
        await conn.execute(
            consents.insert().values(
                id=consent_id,
                holder_kind=kind,
                holder_id=holder_id,
                grantee_code=grantee,
                purposes=[str(p) for p in purposes],
                granted_at=now,
                valid_until=input.valid_until,
                revoked_at=None,
            )
        )
        row = (await conn.execute(CONSENTS.where(consents.c.id == consent_id), {"keys": [holder_id], "kinds": [kind.value]})).one()
    return ConsentType.from_row(row)


async def revoke_consent(info: Info[Context, None], id: strawberry.ID) -> ConsentType:
    """Take a consent back from now on. Revoking it again changes nothing."""
    db = info.context.db
    consent_id = parse_text(str(id), "what.consent_id", MAX_CONSENT_ID)
    rows = await db.rows(select(consents).where(consents.c.id == consent_id))
    try:
        if not rows:
            raise Forbidden("consent.no_such")
        await info.context.gate.authorize(Action.CONSENT_REVOKE, holder=(HolderKind(rows[0].holder_kind), rows[0].holder_id))
    except Forbidden:
        # One that does not exist and someone else's get the same answer: an id tells nobody else anything.
        raise Forbidden("consent.not_yours") from None
    async with db.transaction() as conn:
        await conn.execute(
            update(consents).where(consents.c.id == consent_id, consents.c.revoked_at.is_(None)).values(revoked_at=clock.now())
        )
        params = {"keys": [rows[0].holder_id], "kinds": [str(rows[0].holder_kind)]}
        row = (await conn.execute(CONSENTS.where(consents.c.id == consent_id), params)).one()
    return ConsentType.from_row(row)
