from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from energy_api.db import Base, UtcDateTime


class Client(Base):
    __tablename__ = "clients"
    # INSERT … RETURNING brings back server defaults (created_at): no lazy load later.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    document: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
