"""audit log: Merkle tree and signed-note checkpoints

Revision ID: e3a8c1f4d902
Revises: b9d7e46d9cfe
Create Date: 2026-11-27

`audit_tree` holds every complete subtree of the log's Merkle tree (app/audit/merkle.py), as
append-only as the log: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL).
`audit_checkpoints` gains the signed note and its root; rows from before keep both empty.

The tree of the entries already written is built here, read in chunks by seq, so that the
service never has to catch up on a large log while a request waits; entries written meanwhile
by workers of the release before (which know no tree) are taken in by the next append
(app/audit/store.py).

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long: the new
columns are nullable (no table rewrite), and the backfill reads the log without locking it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a8c1f4d902"
down_revision: str | None = "b9d7e46d9cfe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # xz_append_only() was made with the log (b9d7e46d9cfe).
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION xz_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION xz_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def _backfill() -> None:
    # The entries' canonical form and the tree are the pinned formats of app/audit/chain.py and
    # app/audit/merkle.py (tests/unit/test_chain.py, test_merkle.py): the same bytes the service hashes.
    from app.audit.chain import canonical
    from app.audit.merkle import Frontier, leaf_hash
    from app.audit.rows import audit_log, from_row

    conn = op.get_bind()
    tree = sa.table("audit_tree", sa.column("level"), sa.column("idx"), sa.column("hash"))
    frontier, after = Frontier(), 0
    while True:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(CHUNK)).all()
        nodes = []
        for row in rows:
            if row.seq != frontier.size + 1:
                raise RuntimeError(f"audit_log has no entry {frontier.size + 1}: run `xinzheng audit verify` first")
            nodes += [{"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in frontier.append(leaf_hash(canonical(from_row(row))))]
        if nodes:
            conn.execute(tree.insert(), nodes)
        if len(rows) < CHUNK:
            return
        after = rows[-1].seq


def upgrade() -> None:
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree")),
    )
    _append_only("audit_tree")
    # Plain ADD COLUMN (not batch mode): SQLite keeps the table, and with it its triggers. A
    # downgrade leaves them (the table is append-only), so an upgrade after one finds them there.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit_checkpoints")}
    if "root_hash" not in present:
        op.add_column("audit_checkpoints", sa.Column("root_hash", sa.String(length=64), nullable=True))
    if "note" not in present:
        op.add_column("audit_checkpoints", sa.Column("note", sa.Text(), nullable=True))
    _backfill()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_tree_append_only ON audit_tree")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_no_truncate ON audit_tree")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_tree_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_tree_no_delete")
    op.drop_table("audit_tree")
    # The checkpoints are append-only: their new columns stay (empty for the release before).
