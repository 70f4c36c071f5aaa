"""certificate lifecycle: issuer types, key rotation, status lists, status history

Revision ID: e5c2a7f03d91
Revises: 7e1f0c2a9b44
Create Date: 2026-11-30

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long: every
column added here is nullable (no table rewrite on PostgreSQL), and the new table is new.

- authorities.certificate_types: the type codes an issuer issues (JSON list; NULL: none).
- signing_keys.retired_at: set when a key is rotated out; it still verifies what it signed.
- certificates.kid: the key that signed the document (filled below from each document's
  header), so that /.well-known/jwks.json keeps a retired key while a document it signed is
  in force; status_list and status_index: the certificate's entry in its issuer's status
  list (IETF Token Status List), unique per issuer.
- certificate_status_changes: every status change with its reason (Certificate.statusHistory).
"""
from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import UTCDateTime

revision: str = "e5c2a7f03d91"
down_revision: str | None = "7e1f0c2a9b44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("authorities") as batch_op:
        batch_op.add_column(sa.Column("certificate_types", sa.JSON(), nullable=True))
    with op.batch_alter_table("signing_keys") as batch_op:
        batch_op.add_column(sa.Column("retired_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.add_column(sa.Column("kid", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("status_list", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status_index", sa.Integer(), nullable=True))
        batch_op.create_index("ix_certificates_kid", ["kid"])
        batch_op.create_unique_constraint(
            "uq_certificates_status_entry", ["issuer_code", "status_list", "status_index"]
        )
    op.create_table(
        "certificate_status_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("certificate_id", sa.Integer(), sa.ForeignKey("certificates.id", name="fk_certificate_status_changes_certificate_id_certificates"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_org", sa.String(18), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_certificate_status_changes"),
    )
    op.create_index("ix_certificate_status_changes_certificate_id", "certificate_status_changes", ["certificate_id"])
    _backfill_kids()


def _backfill_kids() -> None:
    """The kid of each document already on file, from its protected header."""
    conn = op.get_bind()
    certificates = sa.table("certificates", sa.column("id", sa.Integer), sa.column("document", sa.Text), sa.column("kid", sa.String))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(certificates.c.id, certificates.c.document)
            .where(certificates.c.id > last)
            .order_by(certificates.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        updates = [{"cid": r.id, "kid": kid} for r in rows if (kid := _kid(r.document))]
        if updates:
            conn.execute(
                certificates.update().where(certificates.c.id == sa.bindparam("cid")).values(kid=sa.bindparam("kid")),
                updates,
            )
        last = rows[-1].id


def _kid(document: str | None) -> str | None:
    try:
        header = json.loads(base64.urlsafe_b64decode(document.split(".")[0] + "=="))  # type: ignore[union-attr]
    except Exception:  # not a compact JWS: it keeps no kid
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) and len(kid) <= 64 else None


def downgrade() -> None:
    op.drop_index("ix_certificate_status_changes_certificate_id", "certificate_status_changes")
    op.drop_table("certificate_status_changes")
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.drop_constraint("uq_certificates_status_entry", type_="unique")
        batch_op.drop_index("ix_certificates_kid")
        batch_op.drop_column("status_index")
        batch_op.drop_column("status_list")
        batch_op.drop_column("kid")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of these tables would drop
    # and re-create tables that other tables' foreign keys refer to.
    with op.batch_alter_table("signing_keys", recreate="never") as batch_op:
        batch_op.drop_column("retired_at")
    with op.batch_alter_table("authorities", recreate="never") as batch_op:
        batch_op.drop_column("certificate_types")
