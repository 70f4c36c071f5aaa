"""certificate type catalogue

Revision ID: c47a1e0d5b21
Revises: 2206e67078fa
Create Date: 2026-11-26

Every migration stays compatible with the release before it (the old code must still run
against the new schema while workers roll over) and must not hold locks for long.

The catalogue is reference data the service needs to work (the import format has no kind
for it). National type codes are the defining authority's credit code and three digits
(GB/T 36904-2018); the authority below is the spec's example one, a placeholder until the
platform registers the national catalogue.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c47a1e0d5b21"
down_revision: str | None = "2206e67078fa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINING_AUTHORITY = "11100000000013338W"
CATALOGUE = [
    # code, name, suffix, holder kind
    ("ID_CARD", "居民身份证", "001", "PERSON"),
    ("HOUSEHOLD_REGISTER", "居民户口簿", "002", "PERSON"),
    ("DRIVING_LICENCE", "机动车驾驶证", "003", "PERSON"),
    ("MARRIAGE", "结婚证", "004", "PERSON"),
    ("SOCIAL_INSURANCE", "社会保险参保证明", "005", "PERSON"),
    ("REAL_ESTATE", "不动产权证书", "006", "PERSON"),
    ("DEGREE", "学位证书", "007", "PERSON"),
    ("BUSINESS_LICENCE", "营业执照", "009", "ENTERPRISE"),
    ("FOOD_BUSINESS_LICENCE", "食品经营许可证", "011", "ENTERPRISE"),
]

certificate_types = sa.table(
    "certificate_types",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("national_code", sa.String),
    sa.column("holder_kind", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(
        certificate_types,
        [
            {"code": code, "name": name, "national_code": DEFINING_AUTHORITY + suffix, "holder_kind": kind}
            for code, name, suffix, kind in CATALOGUE
        ],
    )


def downgrade() -> None:
    op.execute(certificate_types.delete().where(certificate_types.c.code.in_([c[0] for c in CATALOGUE])))
