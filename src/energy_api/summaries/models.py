"""The summary tables: data derived from the consumptions, owned by this package alone.

Every table here is kept in the same transaction as every consumption write
(`summaries.service.changing`, `summaries.service.forgetting_client`) and can be verified against,
and rebuilt from, the consumptions at any time (`summaries.service.verify` / `rebuild`). Amounts
are whole cents (BIGINT), so sums stay exact on PostgreSQL and on SQLite alike.

`client_*` and `flagged_months` rows belong to one client and are written only under that
client's lock; `portfolio_*` and `flagged_month_counts` rows sum over clients and are changed
by adding deltas, in key order (see `energy_api.summaries` for the lock order).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from energy_api.db import Base


class PortfolioMonth(Base):
    """The whole portfolio's consumption of one calendar month."""

    __tablename__ = "portfolio_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    # Records of that month, i.e. clients with data in it (one record per client and month).
    clients: Mapped[int] = mapped_column(Integer)


class PortfolioMonthLink(Base):
    """How many clients have a record at `month` whose previous record is at `previous_month`.

    `previous_month` equals `month` when the record is the client's first. A client has data in
    [s, e] exactly when one of its records in [s, e] has its previous record before s (or none),
    so the distinct clients of any range are a sum over this small table (months × gaps rows).
    """

    __tablename__ = "portfolio_month_links"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    previous_month: Mapped[date] = mapped_column(Date, primary_key=True)
    clients: Mapped[int] = mapped_column(Integer)


class ClientTrailingYear(Base):
    """One client's consumption over the 12 calendar months ending at `month` (inclusive).

    Kept for every month from the client's first record to 11 months after its last, so the
    ranking of any 12-month window is the first rows of `ix_…_month_total_cents_client_id`.
    """

    __tablename__ = "client_trailing_years"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int] = mapped_column(Integer)  # months with a record in the window


class ClientTotal(Base):
    """One client's consumption over all its months: the all-time ranking reads it in order."""

    __tablename__ = "client_totals"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    total_cents: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int] = mapped_column(Integer)


TRAILING_RANKING_INDEX = Index(
    "ix_client_trailing_years_month_total_cents_client_id",
    ClientTrailingYear.month,
    ClientTrailingYear.total_cents.desc(),
    ClientTrailingYear.client_id,
)
TOTAL_RANKING_INDEX = Index(
    "ix_client_totals_total_cents_client_id",
    ClientTotal.total_cents.desc(),
    ClientTotal.client_id,
)


class FlaggedMonth(Base):
    """One client-month that `anomalias` reports, with every figure of its answer but the name.

    Amounts are whole cents, `deviation_bp` hundredths of a percent and `score_hundredths`
    hundredths, already rounded as the response shows them. A change at month m re-judges the
    client's months m … m + 12 (m, and the months whose 12-month history holds m) with the same
    SQL as the rebuild (`summaries.rule`).
    """

    __tablename__ = "flagged_months"
    __table_args__ = (
        CheckConstraint("method IN ('mad', 'ano_anterior')", name="method"),
        CheckConstraint("severity IN ('alerta', 'critica')", name="severity"),
        CheckConstraint("direction IN ('alta', 'baixa')", name="direction"),
    )

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    kwh_cents: Mapped[int] = mapped_column(BigInteger)
    reference_cents: Mapped[int] = mapped_column(BigInteger)
    deviation_bp: Mapped[int | None] = mapped_column(BigInteger)  # null when the reference is 0
    score_hundredths: Mapped[int | None] = mapped_column(BigInteger)  # mad with MAD > 0 only
    method: Mapped[str] = mapped_column(String(12))
    severity: Mapped[str] = mapped_column(String(7))
    direction: Mapped[str] = mapped_column(String(5))


# The portfolio's page: months in range newest first, then by client, stopped by LIMIT.
FLAGGED_PAGE_INDEX = Index(
    "ix_flagged_months_month_client_id", FlaggedMonth.month.desc(), FlaggedMonth.client_id
)


class FlaggedMonthCount(Base):
    """How many rows of flagged_months are at `month`: the exact total of any range of the
    portfolio's anomalias is a sum over one row per month of the range."""

    __tablename__ = "flagged_month_counts"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    flagged: Mapped[int] = mapped_column(Integer)
