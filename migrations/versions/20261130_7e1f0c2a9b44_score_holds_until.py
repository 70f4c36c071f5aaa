"""a stored score knows the last day it holds

Revision ID: 7e1f0c2a9b44
Revises: e3a8c1f4d902
Create Date: 2026-11-30

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long.

A nullable column with no default: a catalogue-only change on PostgreSQL, and SQLite's ADD
COLUMN. A score that holds for ever has 9999-12-31; one stored before this column has none,
and reads as due (app/scoring/current.py) until `xinzheng score recompute --due` (or any
recompute) gives it one.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e1f0c2a9b44"
down_revision: str | None = "e3a8c1f4d902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("credit_scores", sa.Column("holds_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_scores") as batch_op:
        batch_op.drop_column("holds_until")
