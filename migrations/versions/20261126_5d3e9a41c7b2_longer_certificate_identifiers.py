"""longer certificate identifiers

Revision ID: 5d3e9a41c7b2
Revises: c47a1e0d5b21
Create Date: 2026-11-26

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long.

An identifier is 62 characters around its serial (GB/T 36904-2018), so 80 left 18 for the
serial: an ID number, but not an ID number with a letter after it, as real certificate
numbers often have. 128 leaves 66. Widening a varchar is a catalogue-only change on
PostgreSQL (no table rewrite, a brief lock); SQLite copies the table in batch mode.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d3e9a41c7b2"
down_revision: str | None = "c47a1e0d5b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.alter_column("identifier", existing_type=sa.String(80), type_=sa.String(128), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.alter_column("identifier", existing_type=sa.String(128), type_=sa.String(80), existing_nullable=False)
