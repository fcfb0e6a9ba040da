"""Logs on stdout: one JSON object per line (or readable text), with the request they belong to.

`configure_logging` replaces the root logger's handlers with one that formats each record in the
caller (cheap: one `json.dumps`) and leaves the write to stdout to a thread, so a slow reader of
stdout never blocks the event loop. Uvicorn's loggers propagate to it; its own access log is off,
because `energy_api.http.middleware.EdgeMiddleware` writes one richer line per request.

Every record carries the request id and the user id of the request it was logged in (through
one context variable holding a `RequestInfo`). Nothing secret is written: request lines hold no
headers, query strings or bodies, and every line passes `redact`, which masks bearer tokens, JWTs
and `password=…`/`"token": …`-like pairs wherever a message or an exception put them.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import IO, Any

from energy_api.config import Settings

ACCESS_LOGGER = "energy_api.access"

# Messages that would carry a secret, masked wherever they appear in a line.
_SECRET_PATTERNS = re.compile(
    r"(?P<bearer>\b[Bb]earer\s+)[^\s\"',;]+"
    r"|(?P<jwt>\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*)"
    r"|(?P<pair>(?i:\b(?:password|passwd|senha|secret|secret_key|token|access|refresh|"
    r"authorization|cookie|set-cookie)\b)[\"']?\s*[:=]\s*)(?:(?i:bearer|basic)\s+)?"
    r"(?:\"[^\"]*\"|'[^']*'|[^\s,;&}\]]+)"
)
REDACTED = "[redacted]"


def _mask(match: re.Match[str]) -> str:
    if match.group("jwt"):
        return REDACTED
    prefix = match.group("bearer") or match.group("pair") or ""
    return prefix + REDACTED


def redact(line: str) -> str:
    """`line` with every token, JWT and password-like value replaced by `[redacted]`."""
    return _SECRET_PATTERNS.sub(_mask, line)


class RequestInfo:
    """What the log lines of one request share; set by the edge middleware, the user id by
    authentication (`energy_api.auth.dependencies`)."""

    __slots__ = ("request_id", "user_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.user_id: int | None = None


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", "user_id", …}` on one line.

    A record may carry ready fields in `record.fields` (the request line does): they are merged
    as they are, so the request line costs one dict and one `json.dumps`.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields is not None:
            entry.update(fields)
        else:
            info = current_request.get()
            if info is not None:
                entry["request_id"] = info.request_id
                if info.user_id is not None:
                    entry["user_id"] = info.user_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class ConsoleFormatter(logging.Formatter):
    """`time level logger message key=value …`, for a terminal (`make run`)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record.created), f"{record.levelname:<7}", record.name]
        fields = getattr(record, "fields", None)
        if fields is not None:
            parts.append(
                f"{fields['method']} {fields['route']} {fields['status']} {fields['duration_ms']}ms"
            )
            parts.extend(
                f"{key}={fields[key]}"
                for key in ("request_id", "user_id", "client")
                if key in fields
            )
        else:
            parts.append(record.getMessage())
            info = current_request.get()
            if info is not None:
                parts.append(f"request_id={info.request_id}")
        line = " ".join(str(part) for part in parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class ThreadedStreamHandler(logging.Handler):
    """Formats in the caller, writes from a daemon thread (so the event loop never waits on
    stdout). Lines still queued at exit are written by `close` (registered with atexit)."""

    _STOP = object()

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._dropped = 0
        self._thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._queue.put(self.format(record))
        except Exception:
            self.handleError(record)

    def _write(self) -> None:
        while True:
            line = self._queue.get()
            if line is self._STOP:
                return
            if isinstance(line, _Marker):
                line.event.set()
                continue
            try:
                self.stream.write(f"{line}\n")
                self.stream.flush()
            except Exception:  # a closed stdout must not kill the writer or the app
                self._dropped += 1

    def flush(self) -> None:
        """Wait until every line queued so far is written (at once when the writer is done)."""
        if not self._thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout=5)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join(timeout=5)
        super().close()


class _Marker(str):
    """A queue entry that, once reached, tells `flush` the lines before it are written."""

    event: threading.Event

    def __new__(cls, event: threading.Event) -> _Marker:
        marker = super().__new__(cls, "")
        marker.event = event
        return marker


_handler: logging.Handler | None = None


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger, in LOG_FORMAT at LOG_LEVEL; uvicorn's loggers propagate
    to it. Idempotent: a second call replaces the first call's handler."""
    global _handler
    handler = ThreadedStreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
        named.setLevel(settings.log_level)
    # Requests are logged by the edge middleware, with more than uvicorn's line would hold.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces its plugins at INFO whenever the migrations are read (readiness).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    _handler = handler
    return handler
