"""Responses rendered by the route itself, for the hottest routes."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


class ModelResponse(Response):
    """A pydantic model as JSON, serialised once by pydantic's own serializer.

    A route that returns a validated model as-is (the service built it) gains nothing from
    FastAPI validating it again through the route's `response_model` before serialising; this
    skips that step. The route still declares `response_model`, so OpenAPI is unchanged.
    """

    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.__pydantic_serializer__.to_json(model), status_code)
