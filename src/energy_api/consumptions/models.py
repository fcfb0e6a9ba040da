from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from energy_api.db import Base, UtcDateTime


class Consumption(Base):
    """One client's consumption for one calendar month (`month` is always the 1st)."""

    __tablename__ = "consumptions"
    # INSERT … RETURNING brings back server defaults (created_at): no lazy load later.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # Also the index every per-client query walks: (client_id, month).
        UniqueConstraint("client_id", "month"),
        CheckConstraint("kwh >= 0", name="kwh_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    month: Mapped[date] = mapped_column(Date)
    kwh: Mapped[Decimal] = mapped_column(Numeric(10, 2, asdecimal=True))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


# Portfolio queries read the consumptions of a range of months: ranking scans it index-only, and
# the smallest and largest value of one month are the first and last entries of that month.
MONTH_KWH_INDEX = Index(
    "ix_consumptions_month_kwh_client_id", Consumption.month, Consumption.kwh, Consumption.client_id
)
