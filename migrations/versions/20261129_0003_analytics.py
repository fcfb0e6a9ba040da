"""Analytics: the (month, kWh, client) index and the portfolio summary tables, filled.

Revision ID: 20261129_0003
Revises: 20261129_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261129_0003"
down_revision: str | None = "20261129_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_consumptions_month_kwh_client_id"),
        "consumptions",
        ["month", "kwh", "client_id"],
    )
    op.create_table(
        "portfolio_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_portfolio_months")),
    )
    op.create_table(
        "portfolio_month_links",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("previous_month", sa.Date(), nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "previous_month", name=op.f("pk_portfolio_month_links")),
    )
    # The summaries of the records that already exist (whole cents are exact on PostgreSQL's
    # NUMERIC and on SQLite's REAL alike).
    op.execute(
        "INSERT INTO portfolio_months (month, total_cents, clients) "
        "SELECT month, sum(CAST(round(kwh * 100) AS BIGINT)), count(*) "
        "FROM consumptions GROUP BY month"
    )
    op.execute(
        "INSERT INTO portfolio_month_links (month, previous_month, clients) "
        "SELECT month, previous_month, count(*) FROM ("
        "  SELECT month, coalesce(lag(month) OVER (PARTITION BY client_id ORDER BY month), month)"
        "  AS previous_month FROM consumptions"
        ") AS steps GROUP BY month, previous_month"
    )


def downgrade() -> None:
    op.drop_table("portfolio_month_links")
    op.drop_table("portfolio_months")
    op.drop_index(op.f("ix_consumptions_month_kwh_client_id"), table_name="consumptions")
