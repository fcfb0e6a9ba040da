"""The per-process cache of active users, and how an access token is resolved through it.

`PrincipalCache` answers only while enabled, starts empty whenever it is enabled, and refuses
an entry looked up before the latest invalidation (the lookup may have read the row a
notified change replaced). `principal_from_access_token` asks the cache first and remembers
only active users it looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from energy_api.auth import principals
from energy_api.auth.models import Role
from energy_api.auth.principals import Principal, PrincipalCache
from energy_api.auth.service import principal_from_access_token
from energy_api.auth.tokens import VerifiedTokens
from energy_api.db import AnySelect
from energy_api.errors import Unauthorized
from energy_api.security import TokenType, encode_token
from tests.conftest import make_settings

ALICE = Principal(id=1, username="alice", role=Role.viewer)
BOB = Principal(id=2, username="bob", role=Role.admin)
SETTINGS = make_settings("sqlite+aiosqlite://")


def enabled_cache(**options: Any) -> PrincipalCache:
    cache = PrincipalCache(**options)
    cache.enable()
    return cache


# ---------------------------------------------------------------------------------------------
# PrincipalCache


def test_disabled_cache_answers_nothing_and_ignores_put() -> None:
    cache = PrincipalCache()
    assert not cache.enabled
    cache.put(ALICE, cache.generation)
    assert cache.get(ALICE.id) is None
    cache.enable()
    assert cache.get(ALICE.id) is None  # the put while disabled was not kept


def test_disable_stops_answering_at_once() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    cache.disable()
    assert not cache.enabled
    assert cache.get(ALICE.id) is None


def test_enable_starts_from_empty() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    cache.enable()
    assert cache.enabled
    assert cache.get(ALICE.id) is None


def test_enable_after_disable_does_not_bring_entries_back() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    cache.disable()
    cache.enable()
    assert cache.get(ALICE.id) is None


def test_lookup_started_before_enable_is_not_stored() -> None:
    """A row read while nobody listened may predate a change that was never heard."""
    cache = PrincipalCache()
    generation = cache.generation
    cache.enable()
    cache.put(ALICE, generation)
    assert cache.get(ALICE.id) is None


def test_put_with_the_current_generation_is_stored() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    assert cache.get(ALICE.id) == ALICE


def test_invalidate_one_user_drops_only_that_user_and_bumps_the_generation() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    cache.put(BOB, cache.generation)
    before = cache.generation
    cache.invalidate(ALICE.id)
    assert cache.generation != before
    assert cache.get(ALICE.id) is None
    assert cache.get(BOB.id) == BOB


def test_invalidate_everyone_drops_every_user() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    cache.put(BOB, cache.generation)
    before = cache.generation
    cache.invalidate()
    assert cache.generation != before
    assert cache.get(ALICE.id) is None
    assert cache.get(BOB.id) is None


def test_put_with_a_generation_read_before_an_invalidation_is_ignored() -> None:
    """The race: a lookup starts, the user's change is notified, the lookup returns the old
    row. Storing it would undo the invalidation until the entry expires."""
    cache = enabled_cache()
    generation = cache.generation  # the lookup starts
    cache.invalidate(ALICE.id)  # the change arrives meanwhile
    cache.put(ALICE, generation)  # the lookup's (stale) row
    assert cache.get(ALICE.id) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock the cache reads (only the cache's: the event loop keeps the real one)."""
    fake = FakeClock()
    monkeypatch.setattr(principals, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_entry_expires_after_ttl_seconds(clock: FakeClock) -> None:
    cache = enabled_cache(ttl_seconds=10.0)
    cache.put(ALICE, cache.generation)
    clock.now += 9.999
    assert cache.get(ALICE.id) == ALICE
    clock.now += 0.001
    assert cache.get(ALICE.id) is None


def test_put_again_restarts_the_ttl(clock: FakeClock) -> None:
    cache = enabled_cache(ttl_seconds=10.0)
    cache.put(ALICE, cache.generation)
    clock.now += 6
    cache.put(ALICE, cache.generation)
    clock.now += 6
    assert cache.get(ALICE.id) == ALICE


def test_cache_never_holds_more_than_max_entries() -> None:
    cache = enabled_cache(max_entries=3)
    people = [Principal(id=i, username=f"user{i}", role=Role.viewer) for i in range(1, 11)]
    for person in people:
        cache.put(person, cache.generation)
        held = [p for p in people if cache.get(p.id) is not None]
        assert len(held) <= 3
        assert person in held  # the newest entry is always kept


# ---------------------------------------------------------------------------------------------
# principal_from_access_token


class FakeReader:
    """Answers `get_active_principal`'s statement from `active`, counting the lookups;
    `during` runs in the middle of each lookup."""

    def __init__(self, *active: Principal, during: Callable[[], None] | None = None) -> None:
        self.active = {p.id: p for p in active}
        self.during = during
        self.lookups = 0

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        self.lookups += 1
        if self.during is not None:
            self.during()
        found = self.active.get(params["user_id"])
        if found is None:
            return None
        return {
            "id": found.id,
            "username": found.username,
            "role": found.role.value,
            "token_version": found.token_version,
        }

    async def all(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        raise AssertionError("authentication reads one row")


def token_for(principal: Principal) -> str:
    return encode_token(
        SETTINGS,
        subject=str(principal.id),
        token_type=TokenType.access,
        ttl=timedelta(minutes=5),
    )


async def resolve(reader: FakeReader, cache: PrincipalCache, principal: Principal) -> Principal:
    return await principal_from_access_token(
        reader, SETTINGS, cache, VerifiedTokens(), token_for(principal)
    )


async def test_cached_user_is_answered_without_a_lookup() -> None:
    cache = enabled_cache()
    cache.put(ALICE, cache.generation)
    reader = FakeReader()  # knows nobody: a lookup would be a 401
    assert await resolve(reader, cache, ALICE) == ALICE
    assert reader.lookups == 0


async def test_looked_up_user_is_remembered() -> None:
    cache = enabled_cache()
    reader = FakeReader(ALICE)
    assert await resolve(reader, cache, ALICE) == ALICE
    assert await resolve(reader, cache, ALICE) == ALICE
    assert reader.lookups == 1
    assert cache.get(ALICE.id) == ALICE


async def test_disabled_cache_looks_the_user_up_every_time() -> None:
    cache = PrincipalCache()
    reader = FakeReader(ALICE)
    await resolve(reader, cache, ALICE)
    await resolve(reader, cache, ALICE)
    assert reader.lookups == 2


async def test_lookup_that_raced_a_change_is_not_remembered() -> None:
    cache = enabled_cache()
    reader = FakeReader(ALICE, during=lambda: cache.invalidate(ALICE.id))
    assert await resolve(reader, cache, ALICE) == ALICE  # this request read before the change
    assert cache.get(ALICE.id) is None
    reader.active.clear()  # the change was a deactivation
    reader.during = None
    with pytest.raises(Unauthorized):
        await resolve(reader, cache, ALICE)


async def test_inactive_user_is_unauthorized_and_not_remembered() -> None:
    """Only active users are cached, so an INSERT or a reactivation (which no cache entry can
    contradict) needs no notification to be seen."""
    cache = enabled_cache()
    reader = FakeReader()
    with pytest.raises(Unauthorized):
        await resolve(reader, cache, ALICE)
    reader.active[ALICE.id] = ALICE  # activated (or created) without any notification
    assert await resolve(reader, cache, ALICE) == ALICE
    assert reader.lookups == 2
