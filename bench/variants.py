"""The service with one layer switched off, for `bench/run.py --variants` only.

They measure what the field policy and the audit log cost, and what planning queries saves
(app/execution/; unplanned, every operation runs on graphql-core's own executor, still inside
strawberry's pipeline and with the policy). None of the switches exists outside this file: `create_app`'s keyword arguments are not reachable from the environment, so no
deployment can run without them.
"""

from __future__ import annotations

from starlette.applications import Starlette

from app.main import create_app


def audit_off() -> Starlette:
    return create_app(audit=False)


def policy_off() -> Starlette:
    return create_app(enforce_policy=False)


def unplanned() -> Starlette:
    return create_app(planned=False)
