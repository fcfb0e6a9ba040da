"""Opt-in Idempotency-Key support for POST routes: `APIRouter(route_class=IdempotentRoute)`.

The dependency (added to each POST route of such a router, and so declared in OpenAPI) checks
the key before the endpoint runs: a stored response is replayed, a key still in use is a 409,
a key used with another request is a 422. After the endpoint returns, the route stores a 2xx
response with the request's session, before `get_session` commits: the work and its record
are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from energy_api.auth.dependencies import CurrentUser
from energy_api.db import SessionDep
from energy_api.http.routing import TransactionRoute
from energy_api.idempotency import service

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

KeyHeader = Annotated[
    str | None,
    Header(
        alias=service.HEADER,
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description=(
            "A unique value per distinct request (e.g. a UUID). Retrying with the same key and "
            "body replays the first successful response instead of writing again; the same key "
            "with another body is a 422, and while the first request is running a 409. Keys "
            "are kept for 24 hours."
        ),
        examples=["5f0c6a2e-8d5b-4c55-9a43-1f2e3d4c5b6a"],
    ),
]


@dataclass(frozen=True, slots=True)
class _Pending:
    session: AsyncSession
    user_id: int
    key: str
    fingerprint: str


class _Replay(Exception):
    """Raised by the dependency to skip the endpoint; turned into the stored response."""

    def __init__(self, stored: service.StoredResponse) -> None:
        super().__init__("replay")
        self.stored = stored

    def response(self) -> Response:
        return Response(
            self.stored.body,
            status_code=self.stored.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )


async def idempotency_key(
    request: Request, session: SessionDep, user: CurrentUser, key: KeyHeader = None
) -> None:
    if key is None:
        return
    fingerprint = service.request_hash(
        request.method, request.url.path, request.url.query, await request.body()
    )
    stored = await service.begin(session, user_id=user.id, key=key, fingerprint=fingerprint)
    if stored is not None:
        raise _Replay(stored)
    request.state.idempotency = _Pending(session, user.id, key, fingerprint)


class IdempotentRoute(TransactionRoute):
    """A TransactionRoute whose POST operations accept an Idempotency-Key header (checked and
    recorded within each attempt's transaction)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {method.upper() for method in kwargs.get("methods") or ()}
        if "POST" in methods:
            dependencies = list(kwargs.get("dependencies") or ())
            if not any(d.dependency is idempotency_key for d in dependencies):
                dependencies.append(Depends(idempotency_key))
            kwargs["dependencies"] = dependencies
        super().__init__(path, endpoint, **kwargs)

    def attempt_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().attempt_handler()

        async def idempotent_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Replay as replay:
                return replay.response()
            pending: _Pending | None = getattr(request.state, "idempotency", None)
            if pending is not None and 200 <= response.status_code < 300:
                await service.record(
                    pending.session,
                    user_id=pending.user_id,
                    key=pending.key,
                    fingerprint=pending.fingerprint,
                    status_code=response.status_code,
                    body=bytes(response.body).decode(),
                )
            return response

        return idempotent_handler
