"""Analytics: the (month, kWh, client) index and the summary tables, filled from the records.

Revision ID: 20261129_0005
Revises: 20261129_0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261129_0005"
down_revision: str | None = "20261129_0004"
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
    op.create_table(
        "client_trailing_years",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_trailing_years_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "month", name=op.f("pk_client_trailing_years")),
    )
    op.create_index(
        op.f("ix_client_trailing_years_month_total_cents_client_id"),
        "client_trailing_years",
        ["month", sa.text("total_cents DESC"), "client_id"],
    )
    op.create_table(
        "client_totals",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_totals_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_totals")),
    )
    op.create_index(
        op.f("ix_client_totals_total_cents_client_id"),
        "client_totals",
        [sa.text("total_cents DESC"), "client_id"],
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
    op.execute(
        "INSERT INTO client_totals (client_id, total_cents, months) "
        "SELECT client_id, sum(CAST(round(kwh * 100) AS BIGINT)), count(*) "
        "FROM consumptions GROUP BY client_id"
    )
    # Every month from a client's first record to 11 months after its last, each with the sum
    # of the 12 months ending there (a dense grid, so ROWS frames are calendar months).
    if op.get_bind().dialect.name == "postgresql":
        next_month = "CAST(month + INTERVAL '1 month' AS DATE)"
        last_window = "CAST(max(month) + INTERVAL '11 months' AS DATE)"
    else:
        next_month = "date(month, '+1 month')"
        last_window = "date(max(month), '+11 months')"
    op.execute(  # the interpolated fragments are the constants just above
        "WITH RECURSIVE grid (client_id, month, last) AS ("  # noqa: S608
        f"  SELECT client_id, min(month), {last_window} FROM consumptions GROUP BY client_id"
        f"  UNION ALL SELECT client_id, {next_month}, last FROM grid WHERE month < last"
        ") "
        "INSERT INTO client_trailing_years (client_id, month, total_cents, months) "
        "SELECT client_id, month, total_cents, months FROM ("
        "  SELECT grid.client_id, grid.month,"
        "    coalesce(sum(CAST(round(c.kwh * 100) AS BIGINT)) OVER w, 0) AS total_cents,"
        "    count(c.kwh) OVER w AS months"
        "  FROM grid LEFT JOIN consumptions AS c"
        "    ON c.client_id = grid.client_id AND c.month = grid.month"
        "  WINDOW w AS (PARTITION BY grid.client_id ORDER BY grid.month"
        "    ROWS BETWEEN 11 PRECEDING AND CURRENT ROW)"
        ") AS rolled WHERE months > 0"
    )


def downgrade() -> None:
    op.drop_table("client_totals")
    op.drop_table("client_trailing_years")
    op.drop_table("portfolio_month_links")
    op.drop_table("portfolio_months")
    op.drop_index(op.f("ix_consumptions_month_kwh_client_id"), table_name="consumptions")
