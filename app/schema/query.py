"""The root Query type. Each field's resolver lives in app/resolvers/ under the same stem."""

from __future__ import annotations

import strawberry

from app.resolvers import audit as audit_resolvers
from app.resolvers import certificate as certificate_resolvers
from app.resolvers import enterprise as enterprise_resolvers
from app.resolvers import person as person_resolvers
from app.resolvers import viewer as viewer_resolvers


@strawberry.type
class Query:
    me = strawberry.field(resolver=viewer_resolvers.me)
    person = strawberry.field(resolver=person_resolvers.person)
    enterprise = strawberry.field(resolver=enterprise_resolvers.enterprise)
    search_enterprises = strawberry.field(resolver=enterprise_resolvers.search_enterprises)
    certificate = strawberry.field(resolver=certificate_resolvers.certificate)
    certificate_types = strawberry.field(resolver=certificate_resolvers.certificate_types)
    audit_log = strawberry.field(resolver=audit_resolvers.audit_log_page)
    audit_integrity = strawberry.field(resolver=audit_resolvers.audit_integrity)
    audit_receipt = strawberry.field(resolver=audit_resolvers.audit_receipt)
    audit_consistency = strawberry.field(resolver=audit_resolvers.audit_consistency)
