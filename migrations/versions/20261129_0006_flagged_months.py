"""Flagged months: the client-months `anomalias` reports and their count per month, filled from
the records.

Revision ID: 20261129_0006
Revises: 20261129_0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from energy_api.analytics.repository import COUNT_FLAGGED_MONTHS, judge_months

revision: str = "20261129_0006"
down_revision: str | None = "20261129_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flagged_months",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kwh_cents", sa.BigInteger(), nullable=False),
        sa.Column("reference_cents", sa.BigInteger(), nullable=False),
        sa.Column("deviation_bp", sa.BigInteger(), nullable=True),
        sa.Column("score_hundredths", sa.BigInteger(), nullable=True),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("severity", sa.String(length=7), nullable=False),
        sa.Column("direction", sa.String(length=5), nullable=False),
        sa.CheckConstraint(
            "method IN ('mad', 'ano_anterior')", name=op.f("ck_flagged_months_method")
        ),
        sa.CheckConstraint(
            "severity IN ('alerta', 'critica')", name=op.f("ck_flagged_months_severity")
        ),
        sa.CheckConstraint(
            "direction IN ('alta', 'baixa')", name=op.f("ck_flagged_months_direction")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_flagged_months_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "month", name=op.f("pk_flagged_months")),
    )
    op.create_index(
        op.f("ix_flagged_months_month_client_id"),
        "flagged_months",
        [sa.text("month DESC"), "client_id"],
    )
    op.create_table(
        "flagged_month_counts",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_flagged_month_counts")),
    )
    # The flags of the records that already exist, judged by the repository's own statements
    # (the rule has one definition; a later change to it comes with a migration that rebuilds).
    op.execute(judge_months(op.get_bind().dialect.name, "all"))
    op.execute(COUNT_FLAGGED_MONTHS)


def downgrade() -> None:
    op.drop_table("flagged_month_counts")
    op.drop_table("flagged_months")
