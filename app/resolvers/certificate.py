from __future__ import annotations

from sqlalchemy import select
from strawberry.types import Info

from app.audit.record import AccessContext, State
from app.auth.enforce import View
from app.auth.gate import MAX_CASE_NUMBER
from app.auth.roles import Role
from app.certificates.check import DocumentState, best
from app.certificates.verify import verify
from app.context import Context
from app.db.hot import hot
from app.db.models import CertificateType as CatalogueRow
from app.db.models import SigningKey
from app.domain.enums import HolderKind
from app.errors import BadUserInput, CaseNumberRequired
from app.identifiers import parse_certificate_identifier, parse_holder_id, parse_text
from app.schema.access import AccessInput
from app.schema.certificate import CatalogueEntryType, CertificateType
from app.schema.verification import CertificateVerificationType, DocumentCheckItemType, DocumentCheckType

catalogue = CatalogueRow.__table__
CATALOGUE = hot("catalogue", select(catalogue).order_by(catalogue.c.holder_kind.desc(), catalogue.c.code))
signing_keys = SigningKey.__table__
ALL_KEYS = select(signing_keys.c.public_jwk)  # retired keys too: online, what was ever signed here verifies
MAX_DOCUMENT = 16_384  # a document is about 1 KB; a QR code holds under 3
MAX_REQUIRED_TYPES = 20


async def certificate(info: Info[Context, None], identifier: str, access: AccessInput | None = None) -> CertificateType | None:
    """One e-certificate by its identifier, if the caller may reach it."""
    gate = info.context.gate
    row = await gate.certificate(str(parse_certificate_identifier(identifier)), access)
    if row is None:
        return None
    loaders = info.context.loaders
    if HolderKind(row.holder_kind) is HolderKind.PERSON:
        holder = await loaders.person.load(row.holder_id)
    else:
        holder = await loaders.enterprise.load(row.holder_id)
    return CertificateType.from_row(row, info.context.today, holder.name if holder else None, gate.root_view(access))


async def certificate_types(info: Info[Context, None]) -> list[CatalogueEntryType]:
    """The catalogue of certificate types."""
    return [
        CatalogueEntryType(type_code=r.code, name=r.name, national_code=r.national_code, holder_kind=r.holder_kind)
        for r in await info.context.db.rows(CATALOGUE)
    ]


async def verify_certificate(
    info: Info[Context, None], identifier: str, document: str | None = None
) -> CertificateVerificationType:
    """Check a certificate (and the document shown, if given): signature, record, status, dates."""
    ident = str(parse_certificate_identifier(identifier))
    if document is not None and len(document) > MAX_DOCUMENT:
        raise BadUserInput("certificate.document_too_long", limit=MAX_DOCUMENT)
    context = info.context
    audit = context.audit
    row = await context.loaders.certificate.load(ident)
    audit.subject("CERTIFICATE", ident, State.REACHED if row is not None else State.NOT_FOUND)
    keys = {"keys": [dict(r.public_jwk) for r in await context.db.rows(ALL_KEYS)]}
    if row is not None:
        # An organisation's verification is a look at the holder's data: the holder sees it.
        if context.principal.org is not None:
            is_self = await context.gate.is_self(HolderKind(row.holder_kind), row.holder_id)
            audit.subject(str(row.holder_kind), row.holder_id, State.REACHED, is_self=is_self)
    result = verify(ident, document, row, keys, context.today)
    return CertificateVerificationType(
        valid=result.valid,
        status=result.status,
        identifier=result.identifier,
        issuer_code=result.issuer_code,
        reasons=result.reasons,
    )


async def check_documents(
    info: Info[Context, None], holder_kind: HolderKind, holder_id: str, required_types: list[str], case_number: str
) -> DocumentCheckType:
    """For a case at a counter: each required certificate type's state for this holder."""
    if not case_number.strip():
        raise CaseNumberRequired("certificate.case_number_required")
    case = parse_text(case_number, "what.case_number", MAX_CASE_NUMBER)
    kind = HolderKind(holder_kind)
    holder = parse_holder_id(kind, holder_id)
    if not required_types or len(required_types) > MAX_REQUIRED_TYPES:
        raise BadUserInput("certificate.required_types_count", limit=MAX_REQUIRED_TYPES)
    known = {r.code: r for r in await info.context.db.rows(CATALOGUE)}
    unknown = sorted({t for t in required_types if t not in known})
    if unknown:
        raise BadUserInput("certificate.unknown_types", types=", ".join(unknown))
    wrong = sorted({t for t in required_types if known[t].holder_kind != kind})
    if wrong:
        raise BadUserInput("certificate.wrong_holder_kind", types=", ".join(wrong), kind=kind)
    context = info.context
    access = AccessInput(case_number=case)
    loaders = context.loaders
    holder_row = await (loaders.person if kind is HolderKind.PERSON else loaders.enterprise).load(holder)
    # The case, in the entry and in the holder's access records.
    state = State.REACHED if holder_row is not None else State.NOT_FOUND
    context.audit.subject(str(kind), holder, state, AccessContext.of(case_number=case))
    rows = await loaders.certificates.load((kind, holder))
    # The check shows what a counter sees of a certificate, whoever asks: metadata, never the document.
    view = View(Role.COUNTER, access)
    items = []
    for type_code in dict.fromkeys(required_types):
        state, chosen = best([r for r in rows if r.type_code == type_code], context.today)
        certificate = None
        if chosen is not None:
            certificate = CertificateType.from_row(chosen, context.today, holder_row.name if holder_row else None, view)
        items.append(DocumentCheckItemType(type_code=type_code, state=state, certificate=certificate))
    return DocumentCheckType(case_number=case, all_satisfied=all(i.state is DocumentState.VALID for i in items), items=items)
