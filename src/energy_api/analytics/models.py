"""Summary tables kept by the analytics repository, and the index portfolio queries walk.

Every table here is maintained in the same transaction as every consumption write
(`repository.record_consumption_change`, `repository.forget_client`) and can be rebuilt from the
consumptions at any time (`repository.rebuild_summaries`). Amounts are whole cents (BIGINT), so
sums stay exact on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from energy_api.consumptions.models import Consumption
from energy_api.db import Base

# Portfolio queries read the consumptions of a range of months: ranking scans it index-only, and
# the smallest and largest value of one month are the first and last entries of that month.
MONTH_KWH_INDEX = Index(
    "ix_consumptions_month_kwh_client_id", Consumption.month, Consumption.kwh, Consumption.client_id
)


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
