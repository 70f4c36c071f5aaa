"""The root Mutation type. Each field's resolver lives in app/resolvers/ under the same stem."""

from __future__ import annotations

import strawberry

from app.resolvers import consent as consent_resolvers


@strawberry.type
class Mutation:
    grant_consent = strawberry.field(resolver=consent_resolvers.grant_consent)
    revoke_consent = strawberry.field(resolver=consent_resolvers.revoke_consent)
