"""Request lines are written in batches by the handler's own thread, in the order they were
logged, and nothing waiting is lost at shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from httpx import ASGITransport, AsyncClient

from energy_api.main import create_app
from energy_api.observability.logging import (
    ACCESS_LOGGER,
    BatchingStreamHandler,
    configure_logging,
    flush_logs,
    log_request,
)
from tests.conftest import make_settings


class Recording(io.StringIO):
    """A stream that remembers which thread wrote each chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: list[str] = []

    def write(self, text: str) -> int:
        self.writers.append(threading.current_thread().name)
        return super().write(text)

    def lines(self) -> list[str]:
        return [line for line in self.getvalue().splitlines() if line]


@pytest.fixture
def stream() -> Iterator[Recording]:
    recording = Recording()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(
        make_settings("sqlite+aiosqlite://", log_format="json"), stream=recording
    )
    try:
        yield recording
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)


def fields(number: int) -> dict[str, object]:
    return {"request_id": f"r-{number}", "method": "GET", "route": "/x", "status": 200}


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    """Polls: the writer thread has no event to wait on."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_request_lines_wait_for_their_batch_and_leave_on_the_writer_thread(
    stream: Recording,
) -> None:
    for number in range(5):
        log_request(fields(number))
    assert stream.lines() == []  # nothing written on the event loop
    await until(lambda: len(stream.lines()) == 5)
    assert [json.loads(line)["request_id"] for line in stream.lines()] == [
        f"r-{number}" for number in range(5)
    ]
    assert stream.writers == ["log-writer_0"]  # one write for the whole batch
    assert {json.loads(line)["logger"] for line in stream.lines()} == {ACCESS_LOGGER}


async def test_another_line_is_written_at_once_after_the_waiting_request_lines(
    stream: Recording,
) -> None:
    log_request(fields(1))
    log_request(fields(2))
    logging.getLogger("energy_api.test").warning("after the requests")
    assert [json.loads(line).get("request_id") for line in stream.lines()] == ["r-1", "r-2", None]
    log_request(fields(3))
    await until(lambda: len(stream.lines()) == 4)
    assert json.loads(stream.lines()[-1])["request_id"] == "r-3"


async def test_flush_writes_what_waits_and_later_lines_go_at_once_after_shutdown(
    stream: Recording,
) -> None:
    log_request(fields(1))
    flush_logs()
    assert len(stream.lines()) == 1
    log_request(fields(2))  # after shutdown's flush: no batch would be handed over
    assert len(stream.lines()) == 2


def test_without_an_event_loop_a_request_line_is_written_at_once(stream: Recording) -> None:
    log_request(fields(1))
    assert len(stream.lines()) == 1


async def test_the_lifespan_writes_the_last_request_lines_at_shutdown(
    stream: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BatchingStreamHandler, "BATCH_SECONDS", 60.0)  # no batch leaves by itself
    # httpx logs each request: another line, which would write the batch out before it.
    monkeypatch.setattr(logging.getLogger("httpx"), "disabled", True)
    app = create_app(make_settings("sqlite+aiosqlite://", log_format="json"))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(3):
                assert (await client.get("/health/live")).status_code == 200
        assert not [line for line in stream.lines() if ACCESS_LOGGER in line]
    access = [json.loads(line) for line in stream.lines() if ACCESS_LOGGER in line]
    assert [entry["route"] for entry in access] == ["/health/live"] * 3


def test_a_closed_handler_has_written_everything() -> None:
    recording = Recording()
    handler = BatchingStreamHandler(recording)

    async def requests() -> None:
        for number in range(3):
            handler.write_soon(json.dumps(fields(number)) + "\n")

    asyncio.run(requests())  # the loop ends before the batch is handed over
    handler.close()
    assert len(recording.lines()) == 3


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("the collector went away")


async def test_a_failing_stream_is_reported_never_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = BatchingStreamHandler(Broken())
    handler.write_soon("a line\n")
    await until(lambda: "the collector went away" in capsys.readouterr().err)
    handler.write_soon("another\n")
    handler.flush()  # neither the writer's failure nor its own reaches the caller
    handler.close()


def test_a_bare_flush_of_a_closed_stream_passes_silently(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As at interpreter exit, when `logging.shutdown` flushes a handler whose stream is gone."""
    closed = io.StringIO()
    handler = BatchingStreamHandler(closed)
    closed.close()
    handler.flush()
    handler.close()
    assert capsys.readouterr().err == ""
