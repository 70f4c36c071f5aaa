"""An issuing department's mutations: issue a certificate, change its status.

Each runs its one service (app/certificates/issue.py, status.py) in the request's write
transaction, which the view commits together with the request's audit entry, or not at all
(as grantConsent does). The audit entry keeps the mutation's arguments, the reason included.
"""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from app import clock
from app.audit.record import State
from app.auth.policy import Action
from app.certificates.issue import issue_certificate as issue, require_issues
from app.certificates.keys import DEV_KEYS, KeyStore
from app.certificates.status import locked_certificate, set_certificate_status as set_status
from app.context import Context
from app.domain.enums import CertificateStatus, HolderKind
from app.errors import BadUserInput, XinzhengError
from app.identifiers import parse_certificate_identifier, parse_credit_code, parse_text
from app.resolvers.loaders import CERTIFICATE_HISTORY, CERTIFICATES
from app.schema.certificate import CertificateType
from app.schema.verification import IssueCertificateInput

MAX_REASON = 500


def key_store(info: Info[Context, None]) -> KeyStore:
    """Where this deployment's issuer keys are (set on the app by app/main.py)."""
    return getattr(info.context.request.app.state, "keys", DEV_KEYS)


async def _answer(info: Info[Context, None], conn: Any, identifier: str) -> CertificateType:
    row = (await conn.execute(CERTIFICATES, {"keys": [identifier]})).one()
    loaders = info.context.loaders
    holder = await (loaders.person if HolderKind(row.holder_kind) is HolderKind.PERSON else loaders.enterprise).load(
        row.holder_id
    )
    gate = info.context.gate
    answer = CertificateType.from_row(row, info.context.today, holder.name if holder else None, gate.root_view(None))
    answer.history = list((await conn.execute(CERTIFICATE_HISTORY, {"keys": [identifier]})).all())
    return answer


async def issue_certificate(info: Info[Context, None], input: IssueCertificateInput) -> CertificateType:
    """Issue a certificate under the caller's own authority: identified, entered in the status list, signed."""
    principal = info.context.principal
    issuer = parse_credit_code(input.issuer_code) if input.issuer_code else principal.org
    await info.context.gate.authorize(Action.CERTIFICATE_ISSUE, authority=issuer)
    line: dict[str, Any] = {
        "type_code": input.type_code,
        "number": input.number,
        "holder_kind": str(input.holder_kind),
        "holder_id": input.holder_id,
        "issuer_code": issuer,
        "issued_on": input.issued_on.isoformat(),
        "valid_from": input.valid_from.isoformat(),
        "valid_until": input.valid_until.isoformat() if input.valid_until else None,
        "data": input.data if input.data is not None else {},
    }
    async with info.context.db.transaction() as conn:
        identifier = await issue(conn, line, keys=key_store(info), actor_org=principal.org, at=clock.now())
        # Written, not read: in the entry, no access record (the holder's own certificate list shows it).
        info.context.audit.subject(str(input.holder_kind), input.holder_id, State.WRITTEN)
        info.context.audit.subject("CERTIFICATE", identifier, State.WRITTEN)
        return await _answer(info, conn, identifier)


async def set_certificate_status(
    info: Info[Context, None], identifier: str, status: CertificateStatus, reason: str
) -> CertificateType:
    """Suspend, reinstate, revoke or cancel a certificate the caller's authority issued, with the reason."""
    ident = str(parse_certificate_identifier(identifier))
    why = parse_text(reason, "what.reason", MAX_REASON)
    try:
        return await _set_status(info, ident, CertificateStatus(status), why)
    except XinzhengError:
        info.context.audit.subject("CERTIFICATE", ident, State.REFUSED)  # the attempt, in the entry
        raise


async def _set_status(info: Info[Context, None], ident: str, status: CertificateStatus, why: str) -> CertificateType:
    gate = info.context.gate
    async with info.context.db.transaction() as conn:
        row = await locked_certificate(conn, ident)
        if row is None:
            await gate.authorize(Action.CERTIFICATE_SET_STATUS, authority=None)  # an issuer is told FORBIDDEN first
            raise BadUserInput("certificate.unknown")
        await gate.authorize(Action.CERTIFICATE_SET_STATUS, authority=row.issuer_code)
        await require_issues(conn, row.issuer_code, row.type_code)
        await set_status(conn, row, status, why, actor_org=info.context.principal.org, at=clock.now())
        info.context.audit.subject("CERTIFICATE", ident, State.WRITTEN)
        info.context.audit.subject(str(row.holder_kind), row.holder_id, State.WRITTEN)
        return await _answer(info, conn, ident)
