"""Access tokens are verified once per process and token, never for longer than the token lives,
and never in place of asking whether the user is still active."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest

from energy_api.auth import service
from energy_api.auth.principals import PrincipalCache
from energy_api.auth.tokens import VerifiedTokens
from energy_api.errors import Unauthorized
from energy_api.security import InvalidToken, TokenType, encode_token
from tests.auth.test_principal_cache import ALICE, SETTINGS, FakeReader


def token(minutes: float = 5) -> str:
    return encode_token(
        SETTINGS,
        subject=str(ALICE.id),
        token_type=TokenType.access,
        ttl=timedelta(minutes=minutes),
    )


async def resolve(verified: VerifiedTokens, text: str, reader: FakeReader | None = None) -> object:
    return await service.principal_from_access_token(
        reader or FakeReader(ALICE), SETTINGS, PrincipalCache(), verified, text
    )


def refuse_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def decode(*_: object, **__: object) -> dict[str, object]:
        raise InvalidToken("decoded again")

    monkeypatch.setattr(service, "decode_token", decode)


async def test_a_verified_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    verified, text = VerifiedTokens(), token()
    assert await resolve(verified, text) == ALICE
    refuse_decoding(monkeypatch)
    assert await resolve(verified, text) == ALICE


async def test_a_token_differing_in_one_byte_is_verified_afresh() -> None:
    verified, text = VerifiedTokens(), token()
    await resolve(verified, text)
    forged = text[:-1] + ("A" if text[-1] != "A" else "B")
    with pytest.raises(Unauthorized):
        await resolve(verified, forged)


async def test_an_entry_ends_when_its_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verified, text = VerifiedTokens(), token(minutes=1)
    await resolve(verified, text)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert verified.lookup(text) is None
    assert len(verified) == 0


async def test_a_deactivated_user_is_refused_though_the_token_is_remembered() -> None:
    verified, text = VerifiedTokens(), token()
    await resolve(verified, text)
    with pytest.raises(Unauthorized):
        await resolve(verified, text, FakeReader())  # the user is no longer active


def test_the_cache_is_bounded_and_drops_the_oldest() -> None:
    verified = VerifiedTokens(max_entries=2)
    expires = time.time() + 60
    for name, user in (("a", 1), ("b", 2), ("c", 3)):
        verified.remember(name, user, 0, expires)
    assert [verified.lookup(name) for name in "abc"] == [None, (2, 0), (3, 0)]


def test_an_expired_token_is_not_remembered() -> None:
    verified = VerifiedTokens()
    verified.remember("old", 1, 0, time.time() - 1)
    assert len(verified) == 0


async def test_a_remembered_token_ends_when_the_users_token_version_moves_on() -> None:
    verified, text = VerifiedTokens(), token()
    await resolve(verified, text)
    assert verified.lookup(text) == (ALICE.id, 0)
    after_password_change = dataclasses.replace(ALICE, token_version=1)
    with pytest.raises(Unauthorized):
        await resolve(verified, text, FakeReader(after_password_change))
