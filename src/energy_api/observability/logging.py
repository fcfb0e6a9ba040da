"""Logs on stdout: one JSON object per line (or readable text), with the request they belong to.

`configure_logging` replaces the root logger's handlers with one that writes each record as one
line (one `json.dumps`) to stdout, where the container runtime collects it. Uvicorn's loggers
propagate to it; its own access log is off, because `energy_api.http.middleware.EdgeMiddleware`
writes one richer line per request. Request lines are written in batches by a thread of the
handler's own (`BatchingStreamHandler`), flushed by the lifespan at shutdown; every other line
is written when it is logged, so none is lost when uvicorn ends the process by re-raising
SIGTERM.

Every record carries the request id and the user id of the request it was logged in (through
one context variable holding a `RequestInfo`). Nothing secret is written: request lines hold no
headers, query strings or bodies, and every line passes `redact`, which masks bearer tokens, JWTs
and `password=…`/`"token": …`-like pairs wherever a message or an exception put them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import IO, Any

import orjson

from energy_api.config import Settings

ACCESS_LOGGER = "energy_api.access"
_ACCESS = logging.getLogger(ACCESS_LOGGER)

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


def looks_secret(text: str) -> bool:
    """Whether `redact` would mask part of `text` (a caller's request id must not be a token:
    it is written to every line of its request)."""
    return _SECRET_PATTERNS.search(text) is not None


class RequestInfo:
    """What the log lines of one request share; set by the edge middleware, the user id by
    authentication (`energy_api.auth.dependencies`)."""

    __slots__ = ("request_id", "user_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.user_id: int | None = None


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


_second: list[Any] = [None, ""]  # the last second formatted, and its text


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    if _second[0] != seconds:  # most lines share their second with the previous one
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    return f"{_second[1]}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", "user_id", …}` on one line.

    A record may carry ready fields in `record.fields` (the request line does): they are merged
    as they are, so the request line costs one dict and one `json.dumps`. Those fields are the
    method, route template, status, duration, ids and the client's address, none of which can
    hold a secret (`EdgeMiddleware` refuses a request id that `looks_secret`): the request line
    skips `redact`, which every other line passes.
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
            return json.dumps(entry, default=str, ensure_ascii=False)
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


class BatchingStreamHandler(logging.StreamHandler[IO[str]]):
    """A `StreamHandler` that writes request lines in batches, off the event loop.

    `write_soon` (the request line, from the event loop) adds a line to the current batch; the
    batch's first line schedules its hand-over `BATCH_SECONDS` later to a writer thread of the
    handler's own, which writes the whole batch in one write and flushes. So a request costs an
    append, and the loop never waits on the stream (a slow log collector delays the writer
    thread, not the requests). Without a running loop a line is written at once.

    Every other record is written at once, as `StreamHandler` does, after the request lines
    gathered before it: the stream keeps the order of the loop's lines. `flush()` writes out
    everything pending; the lifespan calls it at shutdown (`flush_logs`), after the last request
    and before uvicorn ends the process by re-raising SIGTERM, which no atexit hook would outlive.
    """

    BATCH_SECONDS = 0.05

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._batch: list[str] = []
        self._batch_lock = threading.Lock()  # the batch is swapped by the loop and by `emit`
        self._stream_lock = threading.Lock()  # one writer of the stream at a time
        self._scheduled = False
        self._handed: Future[None] | None = None  # the writer thread's latest batch
        self._writer: ThreadPoolExecutor | None = None
        self._direct = False  # after `stop_batching`

    def stop_batching(self) -> None:
        """Write out what is pending, and every later line at once (at shutdown)."""
        self._direct = True
        self.flush()

    def write_soon(self, line: str) -> None:
        """Write `line` (with its newline) with the next batch."""
        if self._direct:
            self._write_after_batches(line)
            return
        with self._batch_lock:
            self._batch.append(line)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            asyncio.get_running_loop().call_later(self.BATCH_SECONDS, self._hand_over)
        except RuntimeError:  # no loop: nothing would hand the batch over
            self.flush()

    def _take(self) -> str:
        with self._batch_lock:
            text = "".join(self._batch)
            self._batch.clear()
            self._scheduled = False
        return text

    def _hand_over(self) -> None:
        text = self._take()
        if text:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-writer")
            self._handed = self._writer.submit(self._write, text)

    def _write(self, text: str) -> None:
        """Write `text` and flush. A stream that fails to take lines is reported on stderr, as
        `logging` reports its own errors, and never raised into the request that logged; a bare
        flush of a closed stream (at interpreter exit) passes silently, as in `logging`."""
        with self._stream_lock:
            try:
                if text:
                    self.stream.write(text)
                self.stream.flush()
            except Exception:
                if text and logging.raiseExceptions:
                    traceback.print_exc(file=sys.stderr)

    def _write_after_batches(self, text: str) -> None:
        text = self._take() + text
        handed = self._handed
        if handed is not None:
            handed.result()  # what the writer holds goes first (`_write` never raises)
        self._write(text)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._write_after_batches(line)

    def flush(self) -> None:
        self._write_after_batches("")

    def close(self) -> None:
        try:
            self.flush()
            if self._writer is not None:
                self._writer.shutdown(wait=True)
        finally:
            super().close()


_handler: logging.StreamHandler[IO[str]] | None = None
_json_lines = False  # whether `_handler` writes JSON (LOG_FORMAT=json)


def log_request(fields: dict[str, Any]) -> None:
    """The request line (`EdgeMiddleware`), as `JsonFormatter` writes it.

    In JSON, and when the access logger is on, the line is built here (one `orjson.dumps`)
    and handed to `BatchingStreamHandler.write_soon`: a LogRecord, the logger's and handler's
    dispatch, `json.dumps` and a write per request cost several times the request's own query
    on the hottest routes. Otherwise (console, tests' own handlers) it goes through `logging`
    as any other line.
    """
    handler = _handler
    if (
        not isinstance(handler, BatchingStreamHandler)
        or not _json_lines
        or not _ACCESS.isEnabledFor(logging.INFO)
    ):
        _ACCESS.info("request", extra={"fields": fields})
        return
    line = orjson.dumps(
        {
            "time": _timestamp(time.time()),
            "level": "info",
            "logger": ACCESS_LOGGER,
            "message": "request",
            **fields,
        },
        default=str,
        option=orjson.OPT_APPEND_NEWLINE,
    )
    handler.write_soon(line.decode())


def flush_logs() -> None:
    """At shutdown: write out the request lines waiting in a batch, and later ones at once."""
    if isinstance(_handler, BatchingStreamHandler):
        _handler.stop_batching()


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger, in LOG_FORMAT at LOG_LEVEL; uvicorn's loggers propagate
    to it. Idempotent: a second call replaces the first call's handler."""
    global _handler, _json_lines
    handler = BatchingStreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # No line shows the caller's file and line, the thread or the process: spare every record
    # finding them (the "Optimization" section of the logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
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
    _json_lines = settings.log_format == "json"
    return handler
