"""certificates: a partial index of those whose status-list entry is not VALID

Revision ID: 9b3e5d7a2c10
Revises: 4c8d2e6f1a37
Create Date: 2026-12-02

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long.

A published status list is built from its certificates that are suspended, revoked or
cancelled (app/certificates/publish.py); without this index PostgreSQL read every certificate
of the list to find them. On PostgreSQL the index is built CONCURRENTLY, outside the migration's
transaction, so that issuing and status changes go on while it is built; an interrupted build
leaves an invalid index, which the next run drops and builds again. The old code does not use it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b3e5d7a2c10"
down_revision: str | None = "4c8d2e6f1a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_certificates_marked"
CONDITION = "status IN ('SUSPENDED', 'REVOKED', 'CANCELLED')"  # as app/db/models/certificate.py writes it


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(NAME, "certificates", ["issuer_code", "status_list"], sqlite_where=sa.text(CONDITION))
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")  # an earlier build's, if it was interrupted
        op.create_index(
            NAME, "certificates", ["issuer_code", "status_list"],
            postgresql_where=sa.text(CONDITION), postgresql_concurrently=True,
        )  # fmt: skip


def downgrade() -> None:
    op.drop_index(NAME, table_name="certificates")
