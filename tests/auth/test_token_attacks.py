"""Token attack suite (RFC 8725): every forged, stale, misused or revoked token gets a 401
problem and nothing else.

Each forgery starts from a token this service would accept (the controls prove it) and changes
one thing. Access-token forgeries are presented as `Authorization: Bearer` to
/api/v1/usuarios/me/; refresh-token forgeries to /api/token/refresh/, carrying the id of a
real, live refresh token, so only the forged part can be the reason for the 401.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth import service
from energy_api.auth.models import Role, User
from energy_api.config import Settings
from energy_api.security import REQUIRED_CLAIMS, TokenType
from tests.auth.forgery import (
    attacker_public_key_pem,
    hmac_token,
    rs256_signature_verifies,
    rs256_token,
)
from tests.auth.helpers import (
    BAD_TOKEN_BODY,
    PROBLEM_JSON,
    b64url,
    login_pair,
    me,
    refresh,
    segment,
    unverified_claims,
)

MakeUser = Callable[..., Any]
HS256 = {"alg": "HS256", "typ": "JWT"}
ATTACKER_SECRET = b"attacker-chosen-secret-of-32-bytes!!"


@dataclass
class Scenario:
    """A token this service would accept, in parts, and what the forgeries need."""

    claims: dict[str, Any]
    secret: bytes
    other_user_id: int

    def token(self, **changes: Any) -> str:
        return hmac_token(HS256, self.claimed(**changes), self.secret)

    def claimed(self, **changes: Any) -> dict[str, Any]:
        return {**self.claims, **changes}

    def without(self, name: str) -> dict[str, Any]:
        return {key: value for key, value in self.claims.items() if key != name}


def _now() -> int:
    return int(time.time())


def _spliced_payload(scenario: Scenario) -> str:
    header, _, signature = scenario.token().split(".")
    return f"{header}.{segment(scenario.claimed(sub=str(scenario.other_user_id)))}.{signature}"


FORGERIES: dict[str, Callable[[Scenario], str]] = {
    # Signature
    "signed-with-another-key": lambda s: hmac_token(HS256, s.claims, ATTACKER_SECRET),
    "signature-stripped": lambda s: s.token().rpartition(".")[0] + ".",
    "signature-replaced": lambda s: s.token().rpartition(".")[0] + "." + "A" * 43,
    "payload-swapped-to-another-user": _spliced_payload,
    # Algorithm
    "alg-none": lambda s: f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(s.claims)}.",
    "alg-None": lambda s: f"{segment({'alg': 'None', 'typ': 'JWT'})}.{segment(s.claims)}.",
    "alg-NONE": lambda s: f"{segment({'alg': 'NONE', 'typ': 'JWT'})}.{segment(s.claims)}.",
    "alg-hs256-lowercase": lambda s: hmac_token({"alg": "hs256"}, s.claims, s.secret),
    "alg-HS384-with-our-key": lambda s: hmac_token(
        {"alg": "HS384"}, s.claims, s.secret, hashlib.sha384
    ),
    "alg-HS512-with-our-key": lambda s: hmac_token(
        {"alg": "HS512"}, s.claims, s.secret, hashlib.sha512
    ),
    "hs-rs-confusion-public-key-as-hmac-secret": lambda s: hmac_token(
        HS256, s.claims, attacker_public_key_pem()
    ),
    "rs256-signed-by-an-attacker-key": lambda s: rs256_token(s.claims),
    "embedded-jwk-with-the-attackers-key": lambda s: hmac_token(
        {**HS256, "jwk": {"kty": "oct", "k": b64url(ATTACKER_SECRET)}}, s.claims, ATTACKER_SECRET
    ),
    "kid-pointing-at-an-empty-file": lambda s: hmac_token(
        {**HS256, "kid": "../../../../../../dev/null"}, s.claims, b""
    ),
    # Time (30 s leeway at most)
    "expired-31s-ago": lambda s: s.token(iat=_now() - 600, exp=_now() - 31),
    "iat-35s-in-the-future": lambda s: s.token(iat=_now() + 35),
    "nbf-35s-in-the-future": lambda s: s.token(nbf=_now() + 35),
    "exp-not-a-number": lambda s: s.token(exp="tomorrow"),
    # Issuer and audience
    "wrong-issuer": lambda s: s.token(iss="someone-else"),
    "wrong-audience": lambda s: s.token(aud="another-api"),
    "audience-list-without-ours": lambda s: s.token(aud=["another-api", "third-api"]),
    # Missing claims, each one (signed with our key)
    **{
        f"missing-{name}": (lambda n: lambda s: hmac_token(HS256, s.without(n), s.secret))(name)
        for name in REQUIRED_CLAIMS
    },
    # Claims of the wrong shape
    "sub-not-a-string": lambda s: s.token(sub=int(s.claims["sub"])),
    "sub-not-a-user-id": lambda s: s.token(sub="admin"),
    "sub-of-no-user": lambda s: s.token(sub="2147483647"),
    "type-unknown": lambda s: s.token(type="admin"),
    # Not a JWS at all
    "jwe-shaped-five-segments": lambda s: ".".join([segment({"alg": "dir", "enc": "A256GCM"})] * 5),
    "header-not-json": lambda s: f"{b64url(b'not json')}.{segment(s.claims)}.",
}
FORGERY_NAMES = sorted(FORGERIES)


async def _scenario(
    kind: TokenType, client: AsyncClient, users: MakeUser, settings: Settings
) -> Scenario:
    user, other = await users(Role.admin), await users(Role.admin)
    if kind is TokenType.refresh:
        jti = unverified_claims((await login_pair(client, user.username))["refresh"])["jti"]
    else:
        jti = uuid.uuid4().hex
    now = _now()
    claims = {
        "sub": str(user.id),
        "type": kind.value,
        "iat": now,
        "exp": now + 300,
        "jti": jti,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return Scenario(claims=claims, secret=settings.jwt_key.encode(), other_user_id=other.id)


async def _present(client: AsyncClient, kind: TokenType, token: str) -> Response:
    if kind is TokenType.refresh:
        return await refresh(client, token)
    return await me(client, token)


def assert_refused(response: Response) -> None:
    """401, a problem body, and nothing else: no user data, no tokens."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == BAD_TOKEN_BODY


# Controls: the scenario builds tokens the service accepts, within the leeway too.


@pytest.mark.parametrize("kind", list(TokenType))
async def test_control_a_hand_signed_token_is_accepted(
    client: AsyncClient, users: MakeUser, settings: Settings, kind: TokenType
) -> None:
    scenario = await _scenario(kind, client, users, settings)
    response = await _present(client, kind, scenario.token())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("change", ["expired-10s-ago", "iat-10s-in-the-future"])
async def test_control_clock_skew_within_the_leeway_is_accepted(
    client: AsyncClient, users: MakeUser, settings: Settings, change: str
) -> None:
    scenario = await _scenario(TokenType.access, client, users, settings)
    if change == "expired-10s-ago":
        token = scenario.token(iat=_now() - 600, exp=_now() - 10)
    else:
        token = scenario.token(iat=_now() + 10)
    assert (await me(client, token)).status_code == 200


def test_control_the_rs256_forgery_carries_a_valid_signature_of_the_attacker_key() -> None:
    assert rs256_signature_verifies(rs256_token({"sub": "1"}))


# Forgeries


@pytest.mark.parametrize("forgery", FORGERY_NAMES)
@pytest.mark.parametrize("kind", list(TokenType))
async def test_forged_token_is_refused(
    client: AsyncClient,
    users: MakeUser,
    settings: Settings,
    kind: TokenType,
    forgery: str,
) -> None:
    scenario = await _scenario(kind, client, users, settings)
    assert_refused(await _present(client, kind, FORGERIES[forgery](scenario)))


@pytest.mark.parametrize("forgery", FORGERY_NAMES)
async def test_forged_refresh_token_revokes_nothing(
    client: AsyncClient, users: MakeUser, settings: Settings, forgery: str
) -> None:
    scenario = await _scenario(TokenType.refresh, client, users, settings)
    await refresh(client, FORGERIES[forgery](scenario))
    assert (await refresh(client, scenario.token())).status_code == 200


# Genuine tokens misused


async def test_refresh_token_used_as_access_is_refused(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    assert_refused(await me(client, pair["refresh"]))


async def test_access_token_used_as_refresh_is_refused(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    assert_refused(await refresh(client, pair["access"]))


async def test_retired_refresh_token_reuse_is_refused(client: AsyncClient, users: MakeUser) -> None:
    user = await users(Role.admin)
    stolen = (await login_pair(client, user.username))["refresh"]
    await refresh(client, stolen)
    assert_refused(await refresh(client, stolen))


async def test_retired_refresh_token_reuse_revokes_the_token_issued_from_it(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.admin)
    stolen = (await login_pair(client, user.username))["refresh"]
    issued = (await refresh(client, stolen)).json()["refresh"]
    await refresh(client, stolen)
    assert_refused(await refresh(client, issued))


async def test_retired_refresh_token_reuse_revokes_the_whole_family(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.admin)
    first = (await login_pair(client, user.username))["refresh"]
    second = (await refresh(client, first)).json()["refresh"]
    newest = (await refresh(client, second)).json()["refresh"]
    await refresh(client, first)
    assert_refused(await refresh(client, newest))


async def test_refresh_token_of_a_logged_out_family_is_refused(
    client: AsyncClient, users: MakeUser
) -> None:
    user = await users(Role.admin)
    first = (await login_pair(client, user.username))["refresh"]
    current = (await refresh(client, first)).json()["refresh"]
    response = await client.post("/api/token/revoke/", json={"refresh": current})
    assert response.status_code == 204
    assert_refused(await refresh(client, current))


@pytest.mark.parametrize("kind", list(TokenType))
async def test_token_of_a_deactivated_user_is_refused(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, kind: TokenType
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    await service.set_active(db_session, user.username, active=False)
    assert_refused(await _present(client, kind, pair[kind.value]))


@pytest.mark.parametrize("kind", list(TokenType))
async def test_token_of_a_deleted_user_is_refused(
    client: AsyncClient, db_session: AsyncSession, users: MakeUser, kind: TokenType
) -> None:
    user = await users(Role.admin)
    pair = await login_pair(client, user.username)
    await db_session.delete(await db_session.get(User, user.id))
    await db_session.flush()
    assert_refused(await _present(client, kind, pair[kind.value]))
