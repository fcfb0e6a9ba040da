"""media-consumo as the smallest FastAPI app: the service's request without the service.

An OAuth2 bearer dependency, a PyJWT HS256 check with the service's claims (issuer, audience,
expiry), the reference's SQL on an asyncpg pool, a dict returned. No SQLAlchemy, no middleware,
no user lookup, no response model, no problem+json. `bench.run --minimal` serves it beside the
service and `ref_asgi.py`: it shows what FastAPI itself costs for this request on this machine.

Env: MINIMAL_DSN (postgresql://…), MINIMAL_SECRET (the HS256 key).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer

SQL = (
    "SELECT avg(kwh)::float8, (SELECT kwh::float8 FROM consumptions WHERE client_id = $1"
    " ORDER BY month DESC LIMIT 1) FROM consumptions WHERE client_id = $1"
)
SECRET = os.environ.get("MINIMAL_SECRET", "")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["MINIMAL_DSN"], min_size=4, max_size=10)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)
scheme = OAuth2PasswordBearer(tokenUrl="/api/token/form/", auto_error=False)


async def subject(token: Annotated[str | None, Depends(scheme)]) -> str:
    try:
        claims: dict[str, Any] = jwt.decode(
            token or "",
            SECRET,
            algorithms=["HS256"],
            audience="energy-api",
            issuer="energy-api",
            options={"require": ["sub", "exp", "iat", "jti", "iss", "aud", "type"]},
        )
    except jwt.PyJWTError:
        raise HTTPException(401) from None
    return str(claims["sub"])


@app.get("/api/v1/analytics/media-consumo/")
async def media_consumo(
    cliente_id: int, request: Request, _: Annotated[str, Depends(subject)]
) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as connection:
        media, latest = await connection.fetchrow(SQL, cliente_id)
    if media is None:
        raise HTTPException(404)
    return {"cliente_id": cliente_id, "media": round(media, 2), "ultimo_consumo": latest}
