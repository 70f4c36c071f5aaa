"""The root Mutation type. Each field's resolver lives in app/resolvers/ under the same stem."""

from __future__ import annotations

import strawberry

from app.resolvers import consent as consent_resolvers
from app.resolvers import record as record_resolvers
from app.resolvers import issuing as issuing_resolvers


@strawberry.type
class Mutation:
    grant_consent = strawberry.field(resolver=consent_resolvers.grant_consent)
    revoke_consent = strawberry.field(resolver=consent_resolvers.revoke_consent)
    record_licence = strawberry.field(resolver=record_resolvers.record_licence)
    record_penalty = strawberry.field(resolver=record_resolvers.record_penalty)
    repair_penalty = strawberry.field(resolver=record_resolvers.repair_penalty)
    set_licence_status = strawberry.field(resolver=record_resolvers.set_licence_status)
    issue_certificate = strawberry.field(resolver=issuing_resolvers.issue_certificate)
    set_certificate_status = strawberry.field(resolver=issuing_resolvers.set_certificate_status)
