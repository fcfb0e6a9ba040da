"""Routes whose transaction is run again when the database asks for it.

A deadlock victim (40P01) or a serialization failure (40001) has done nothing wrong: its
transaction, run again from the start, will usually succeed. `TransactionRoute` runs the whole
endpoint again — dependencies included, so each attempt gets a new session and a new
transaction — up to `MAX_ATTEMPTS` times, with a short random pause between attempts. Errors
that ask for it (`retry_transaction = True`, e.g. a record that moved while being locked) are
retried the same way. When the attempts run out the error is answered as usual: 503 for the
database's errors, the domain error's own status otherwise; never a 500.

FastAPI closes function-scoped dependencies (the session, which commits or rolls back) on an
exit stack it keeps in the request scope. Each attempt gets a stack of its own, closed before
the next attempt starts, so a failed attempt has rolled back and released its locks first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from energy_api.db import is_retryable

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
# Before attempt n (n ≥ 2) the route sleeps a random time up to this × 2^(n − 2) seconds, so
# the transactions that collided do not collide again in step.
BASE_PAUSE_SECONDS = 0.02
# Where FastAPI keeps the exit stack of function-scoped dependencies (fastapi.routing).
FUNCTION_STACK = "fastapi_function_astack"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def should_retry(exc: BaseException) -> bool:
    return is_retryable(exc) or bool(getattr(exc, "retry_transaction", False))


def retrying(attempt: Handler) -> Handler:
    """`attempt`, run again on a retryable error, each time with its own dependency stack."""

    async def handler(request: Request) -> Response:
        outer = request.scope.get(FUNCTION_STACK)
        try:
            for number in range(1, MAX_ATTEMPTS + 1):
                try:
                    async with AsyncExitStack() as stack:
                        request.scope[FUNCTION_STACK] = stack
                        return await attempt(request)
                except Exception as exc:
                    if number == MAX_ATTEMPTS or not should_retry(exc):
                        raise
                    logger.info(
                        "retrying %s %s (attempt %d failed: %r)",
                        request.method,
                        request.url.path,
                        number,
                        exc,
                    )
                    pause = BASE_PAUSE_SECONDS * 2 ** (number - 1)
                    await asyncio.sleep(random.uniform(0, pause))  # noqa: S311 - jitter
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            request.scope[FUNCTION_STACK] = outer

    return handler


class TransactionRoute(APIRoute):
    """An APIRoute whose request transaction is retried on deadlocks and serialization
    failures (see the module). Subclasses add behaviour around one attempt by overriding
    `attempt_handler`."""

    def attempt_handler(self) -> Handler:
        return super().get_route_handler()

    def get_route_handler(self) -> Handler:
        return retrying(self.attempt_handler())
