"""Entity tags: strong validators of a resource's representation, and the conditional headers.

An ETag is a hash of every field a GET shows, so it changes whenever the representation does
(RFC 9110 §8.8.3). `If-Match` is compared strongly (a weak tag never matches) and checked by
the services under the row lock their write already holds, so no write can come between the
check and the write (§13.1.1); `If-None-Match` is compared weakly (§13.1.2).
"""

from __future__ import annotations

import hashlib
from typing import Any

ANY = "*"


def of(*fields: Any) -> str:
    """The quoted strong ETag of a representation made of `fields` (in a fixed order)."""
    text = "\x1f".join(repr(field) for field in fields)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match_holds(header: str | None, current: str) -> bool:
    """Whether a write may go ahead: no If-Match, `*` (the resource exists), or one of the
    listed tags is strongly equal to `current`."""
    if header is None:
        return True
    tags = _tags(header)
    return ANY in tags or current in tags


def if_none_match_holds(header: str | None, current: str) -> bool:
    """Whether a GET must send the representation: false when a listed tag (weakly) matches."""
    if header is None:
        return True
    tags = [tag.removeprefix("W/") for tag in _tags(header)]
    return not (ANY in tags or current in tags)
