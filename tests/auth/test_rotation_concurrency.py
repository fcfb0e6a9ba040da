"""Concurrent uses of one refresh token, each in its own transaction, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from energy_api.auth import repository, service
from energy_api.auth.models import RefreshToken, User
from energy_api.auth.schemas import TokenPair
from energy_api.config import Settings
from energy_api.db import create_sessionmaker
from energy_api.errors import Unauthorized
from tests.auth.helpers import unverified_claims
from tests.conftest import TEST_PASSWORD


async def test_concurrent_uses_of_one_refresh_token_issue_new_tokens_once(
    postgres_only: None, engine: AsyncEngine, settings: Settings, password_hash: str
) -> None:
    sessionmaker = create_sessionmaker(engine)
    username = f"race-{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session, session.begin():
        user = await repository.add(
            session, username=username, password_hash=password_hash, role="viewer"
        )
        user_id = user.id
        pair = await service.authenticate(session, settings, username, TEST_PASSWORD, "test")

    async def use() -> TokenPair | None:
        # What the auth routes' session does: commit on success and on a recorded refusal.
        async with sessionmaker() as session:
            try:
                renewed = await service.refresh(session, settings, pair.refresh)
            except service.RecordedUnauthorized:
                await session.commit()
                return None
            except Unauthorized:
                await session.rollback()
                return None
            await session.commit()
            return renewed

    try:
        outcomes = await asyncio.gather(*(use() for _ in range(8)))
        winners = [outcome for outcome in outcomes if outcome is not None]
        assert len(winners) == 1
        # The others were reuses: the family, the winner's new token included, is revoked.
        async with sessionmaker() as session:
            issued = await session.get(RefreshToken, unverified_claims(winners[0].refresh)["jti"])
            assert issued is not None
            assert issued.revoked_at is not None
            live = await session.scalars(
                select(RefreshToken.jti).where(
                    RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
                )
            )
            assert live.all() == []
    finally:
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(User).where(User.id == user_id))
