"""Access tokens already verified by this process, so a client's next request with the same
token skips the HS256 check and the claims' validation.

Keyed by the whole token string: a token that differs in any byte is verified afresh. An entry
says only "this token is genuine and names user N at token version V" and lasts until the
token's own `exp` (never the decoder's leeway past it); whether user N may still act, and
whether V is still their version, is asked of the principal cache or the database on every
request, so a deactivation or a password change ends the token's use as before. The cache is
bounded: when full, the oldest entry makes room.
"""

from __future__ import annotations

import time

DEFAULT_MAX_ENTRIES = 10_000


class VerifiedTokens:
    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, int, int]] = {}  # token → (exp, user, version)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> tuple[int, int] | None:
        """The (user id, token version) a remembered, unexpired token names; None otherwise."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        expires_at, user_id, version = entry
        if time.time() >= expires_at:
            del self._entries[token]
            return None
        return user_id, version

    def remember(self, token: str, user_id: int, version: int, expires_at: float) -> None:
        if expires_at <= time.time():
            return
        if len(self._entries) >= self.max_entries and token not in self._entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[token] = (expires_at, user_id, version)
