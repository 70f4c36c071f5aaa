"""audit log: the chain and the tree extended where the rows are written (PostgreSQL)

Revision ID: 4c8d2e6f1a37
Revises: e5c2a7f03d91
Create Date: 2026-12-01

`xz_audit_chain` gives a batch of entries their places at the head of the log, under the
audit log's advisory lock, held until the statement that calls it commits: each entry's `seq`,
`prevHash` and `hash` (SHA-256 over its canonical form, app/audit/chain.py), and the Merkle
tree's nodes the entries complete (RFC 9162 hashing, app/audit/merkle.py), which it inserts.
The caller inserts the entries in the same statement (app/audit/chained.py). Each worker used to
read the head and the tree itself and hold the lock across those round trips; now the lock is
held for one statement's work inside the database, so workers no longer queue on each other's
round trips.

The caller sends each entry's canonical form in three parts, split where `prevHash` and `seq`
go; the function joins them with the two values. Where a checkpoint is due (every
`checkpoint_every` entries) it returns the tree's root, for the caller to sign: the key never
reaches the database. A tree that lacks a node of the head's frontier (it lags the log) is
refused with SQLSTATE XZ001, and the caller takes the path that catches it up.

SQLite has no such function: its one writer lock already makes appends take turns.

Compatible with the release before: the old code never calls the function, takes the same
advisory lock, and checks the head it writes on.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "4c8d2e6f1a37"
down_revision: str | None = "e5c2a7f03d91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAIN_FUNCTION = r"""
CREATE OR REPLACE FUNCTION xz_audit_chain(
    lock_key bigint, firsts bytea[], seconds bytea[], thirds bytea[], checkpoint_every bigint
) RETURNS TABLE (n integer, seq bigint, prev_hash text, hash text, root bytea)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    head bigint;
    prev text;
    frontier bytea[];
    found bigint;
    wanted bigint;
    lvl integer;
    leaf bigint;
    h bytea;
    body bytea;
    levels smallint[] := '{}';
    idxs bigint[] := '{}';
    hashes text[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- Read after the lock is held: a new snapshot, so the head another writer just committed.
    SELECT a.seq, a.hash INTO head, prev FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF head IS NULL THEN
        head := 0;
        prev := repeat('0', 64);
    END IF;
    -- The tree at the head, in one read: a complete subtree per set bit of its size, largest
    -- first; the one at level l starts where the higher bits end, so its index is
    -- (head >> (l + 1)) << 1.
    SELECT coalesce(array_agg(decode(t.hash, 'hex') ORDER BY l.lvl DESC), '{}'), count(t.hash), count(*)
      INTO frontier, found, wanted
      FROM generate_series(62, 0, -1) AS l (lvl)
      LEFT JOIN audit_tree t ON t.level = l.lvl AND t.idx = (head >> (l.lvl + 1)) << 1
     WHERE (head >> l.lvl) & 1 = 1;
    IF found < wanted THEN
        RAISE EXCEPTION 'audit_tree lacks % of the % nodes of the tree at size %', wanted - found, wanted, head
            USING ERRCODE = 'XZ001';
    END IF;
    FOR i IN 1..coalesce(cardinality(firsts), 0) LOOP
        n := i;
        seq := head + i;
        prev_hash := prev;
        body := firsts[i] || convert_to(prev, 'UTF8') || seconds[i] || convert_to(seq::text, 'UTF8') || thirds[i];
        hash := encode(sha256(body), 'hex');
        prev := hash;
        -- The leaf, and each complete subtree it completes (its index's trailing 1 bits).
        leaf := seq - 1;
        h := sha256('\x00'::bytea || body);
        levels := levels || 0::smallint;
        idxs := idxs || leaf;
        hashes := hashes || encode(h, 'hex');
        lvl := 0;
        WHILE (leaf >> lvl) & 1 = 1 LOOP
            h := sha256('\x01'::bytea || frontier[cardinality(frontier)] || h);
            frontier := frontier[1:cardinality(frontier) - 1];
            lvl := lvl + 1;
            levels := levels || lvl::smallint;
            idxs := idxs || (leaf >> lvl);
            hashes := hashes || encode(h, 'hex');
        END LOOP;
        frontier := frontier || h;
        root := NULL;
        IF seq % checkpoint_every = 0 THEN
            -- The root: the subtrees folded from the right.
            root := frontier[cardinality(frontier)];
            FOR j IN REVERSE cardinality(frontier) - 1..1 LOOP
                root := sha256('\x01'::bytea || frontier[j] || root);
            END LOOP;
        END IF;
        RETURN NEXT;
    END LOOP;
    INSERT INTO audit_tree (level, idx, hash) SELECT * FROM unnest(levels, idxs, hashes);
    RETURN;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHAIN_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS xz_audit_chain(bigint, bytea[], bytea[], bytea[], bigint)")
