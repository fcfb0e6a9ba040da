"""Summaries hold no empty rows: a row whose amounts are all zero says nothing, a rebuild never
writes one, and the maintenance now deletes a row when its amounts reach zero.

Revision ID: 20261202_0008
Revises: 20261129_0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_0008"
down_revision: str | None = "20261129_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM client_totals WHERE months = 0")
    op.execute("DELETE FROM client_trailing_years WHERE months = 0")
    op.execute("DELETE FROM portfolio_months WHERE clients = 0")
    op.execute("DELETE FROM portfolio_month_links WHERE clients = 0")
    op.execute("DELETE FROM flagged_month_counts WHERE flagged = 0")


def downgrade() -> None:
    """Nothing to restore: the deleted rows were zeros, which every reader ignores."""
