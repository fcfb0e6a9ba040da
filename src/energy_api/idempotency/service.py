"""Idempotency-Key rules: replay the first response, refuse reuse with another request.

A key belongs to one user and is kept for KEY_TTL. Only successful (2xx) responses are stored:
a failed request wrote nothing (its transaction was rolled back), so a retry runs it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.errors import Conflict, InvalidInput
from energy_api.idempotency import repository

KEY_TTL = timedelta(hours=24)
HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: str


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    """The request's fingerprint: method, path, query and body. JSON is compared by value, not
    spacing; query parameters by name in any order, each name's values in their order (the last
    one counts). The query is part of it: `?dry_run=true` and a real load are two requests."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    parameters = sorted(parse_qsl(query, keep_blank_values=True), key=lambda pair: pair[0])
    digest = hashlib.sha256(f"{method.upper()} {path}\n{urlencode(parameters)}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


async def begin(
    session: AsyncSession, *, user_id: int, key: str, fingerprint: str
) -> StoredResponse | None:
    """The stored response to replay, or None when the request should run.

    Holds the key for the rest of the transaction: a concurrent request with the same key
    gets 409 instead of running the work a second time.
    """
    if not await repository.try_lock(session, user_id, key):
        raise Conflict(f"A request with this {HEADER} is still being processed; retry later")
    found = await repository.get(session, user_id, key, since=_now() - KEY_TTL)
    if found is None:
        return None
    if found.request_hash != fingerprint:
        raise InvalidInput(HEADER, "was already used with a different request")
    return StoredResponse(status_code=found.status_code, body=found.response_body)


async def record(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    status_code: int,
    body: str,
) -> None:
    """Store the response in the request's transaction, and prune some expired keys."""
    try:
        await repository.add(
            session,
            user_id=user_id,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response_body=body,
        )
    except repository.DuplicateKey:
        raise Conflict(
            f"A request with this {HEADER} was processed concurrently; retry to get its response"
        ) from None
    await repository.prune(session, before=_now() - KEY_TTL)
