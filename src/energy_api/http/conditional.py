"""Conditional requests at the HTTP edge: the If-Match / If-None-Match headers, the ETag
response header, 304, and how they are declared in OpenAPI (the rules are in `energy_api.etags`
and the services)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response, status

from energy_api import etags

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=4096,
        description=(
            "ETags from an earlier GET (or `*`): the write happens only while the resource "
            "still has one of them, otherwise 412"
        ),
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=4096,
        description="ETags the caller holds: 304 without a body while one is current",
    ),
]

_ETAG_HEADER = {
    "ETag": {
        "description": "Strong validator of this representation; send it back in If-Match",
        "schema": {"type": "string"},
    }
}


def read_responses() -> dict[int | str, dict[str, Any]]:
    """`responses=` entries of a GET that answers an ETag and honours If-None-Match."""
    return {
        200: {"description": "Successful Response", "headers": _ETAG_HEADER},
        304: {
            "description": "Not modified: If-None-Match names the current ETag",
            "headers": _ETAG_HEADER,
        },
    }


def write_responses() -> dict[int | str, dict[str, Any]]:
    """`responses=` entries of a PUT/PATCH whose answer carries the new ETag."""
    return {200: {"description": "Successful Response", "headers": _ETAG_HEADER}}


def respond(response: Response, etag: str, if_none_match: str | None = None) -> Response | None:
    """Set the ETag; a 304 to return instead of the body when If-None-Match matches it."""
    if not etags.if_none_match_holds(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return None
