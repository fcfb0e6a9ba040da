"""`LeanRoute`: a route whose dependencies each need only the request skips FastAPI's generic
dependency resolution.

On every request FastAPI walks the route's dependency tree: per dependency a cache key, the
override lookup, a check of what kind of callable it is, a recursive solve of its own (empty)
parameters, and a `Response` to collect headers the endpoint never sets. On `media-consumo`,
whose dependencies are the caller (`auth.dependencies.BearerPrincipal`) and the reader, that
walk was 17 % of the server's CPU per request, more than checking the token.

A `LeanRoute` looks at its dependant once, when FastAPI builds the handler, and runs it
directly when the route is one of the simple kind (`LeanPlan.of`):
- an async endpoint that returns a `Response` itself (`http.responses.ModelResponse`), with
  no body, headers, cookies, background tasks or `Response` parameter;
- query and path parameters, the `Request`, and dependencies that are each an async callable
  of the `Request` alone (no sub-dependencies, no security scopes), each named once.
The handler then awaits the dependencies in their order, validates the parameters with
FastAPI's own `request_params_to_args` (the same 422 errors), and awaits the endpoint: what
FastAPI does for such a route, in the same order, without the generic machinery. Any other
route gets FastAPI's handler, and so does a request while `app.dependency_overrides` replaces
one of the route's dependencies. OpenAPI is unchanged: the route is an `APIRoute`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
RequestDependency = Callable[[Request], Coroutine[Any, Any, Any]]

# What a dependant may hold besides query and path parameters and dependencies.
_NOT_LEAN = (
    "header_params",
    "cookie_params",
    "body_params",
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
    "own_oauth_scopes",
    "concurrency",  # a limit FastAPI enforces with a semaphore
)


def _is_async(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - a dependency may be an instance
    )


def _plain(dependant: Dependant) -> bool:
    return not any(getattr(dependant, name, None) for name in _NOT_LEAN)


def _request_only(dependant: Dependant) -> bool:
    """A dependency FastAPI would call with the request alone."""
    return (
        _plain(dependant)
        and _is_async(dependant.call)
        and dependant.request_param_name is not None
        and not dependant.dependencies
        and not dependant.query_params
        and not dependant.path_params
        and not dependant.parent_oauth_scopes
    )


def _returns_response(call: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


@dataclass(frozen=True, slots=True)
class LeanPlan:
    """What the handler does for a route of the simple kind."""

    endpoint: Callable[..., Coroutine[Any, Any, Response]]
    dependencies: tuple[tuple[str | None, RequestDependency], ...]
    calls: frozenset[Any]
    dependant: Dependant

    @classmethod
    def of(cls, dependant: Dependant) -> LeanPlan | None:
        """The plan for `dependant`, or None when FastAPI's handler must run it."""
        endpoint = dependant.call
        if endpoint is None or not inspect.iscoroutinefunction(endpoint):
            return None
        if not _plain(dependant) or not _returns_response(endpoint):
            return None
        if not all(_request_only(sub) for sub in dependant.dependencies):
            return None
        calls = [sub.call for sub in dependant.dependencies]
        if len(set(map(id, calls))) != len(calls):  # FastAPI would call a repeated one once
            return None
        try:
            known = frozenset(calls)  # looked up in `dependency_overrides`
        except TypeError:  # an unhashable dependency
            return None
        return cls(
            endpoint=endpoint,
            dependencies=tuple(
                (sub.name, typing.cast(RequestDependency, sub.call))
                for sub in dependant.dependencies
            ),
            calls=known,
            dependant=dependant,
        )

    async def run(self, request: Request) -> Response:
        values: dict[str, Any] = {}
        for name, call in self.dependencies:
            value = await call(request)
            if name is not None:
                values[name] = value
        dependant = self.dependant
        path_values, errors = request_params_to_args(dependant.path_params, request.path_params)
        query_values, query_errors = request_params_to_args(
            dependant.query_params, request.query_params
        )
        if errors or query_errors:
            raise RequestValidationError(errors + query_errors)
        values.update(path_values)
        values.update(query_values)
        if dependant.request_param_name is not None:
            values[dependant.request_param_name] = request
        return await self.endpoint(**values)


class LeanRoute(APIRoute):
    """An `APIRoute` that runs a route of the simple kind with its `LeanPlan` (see the
    module); other routes, and requests while a dependency is overridden, get FastAPI's
    handler."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        # As FastAPI's own handler does: the route as its router was included (with the
        # dependencies the inclusion adds), when FastAPI builds it for an inclusion.
        context = _effective_route_context_var.get()
        dependant: Dependant = self.dependant
        if context is not None and context.original_route is self:
            dependant = context.dependant
        plan = LeanPlan.of(dependant)
        if plan is None:
            return standard
        lean = plan

        async def handler(request: Request) -> Response:
            overrides: dict[Any, Any] = getattr(request.app, "dependency_overrides", {})
            if overrides and not lean.calls.isdisjoint(overrides):
                return await standard(request)
            return await lean.run(request)

        return handler
