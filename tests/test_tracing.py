"""OpenTelemetry: off unless OTEL_* asks for it; when on, a request's span has the database's
spans beneath it."""

from __future__ import annotations

import asyncio

import pytest
from httpx import ASGITransport, AsyncClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from energy_api.main import create_app
from energy_api.observability import tracing
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, False),
    ],
)
def test_tracing_is_on_only_through_the_otel_variables(environ: dict[str, str], on: bool) -> None:
    assert tracing.enabled(environ) is on


def test_without_otel_variables_the_app_is_not_instrumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    app = create_app(make_settings("sqlite+aiosqlite://"))
    assert app.state.tracer_provider is None
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


async def test_a_request_span_has_its_database_spans_beneath(
    database_url: str, backend: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_settings(database_url), tracer_provider=provider)
    try:
        async with app.router.lifespan_context(app):
            if backend == "postgresql":
                async with asyncio.timeout(5):
                    await app.state.listener.wait_connected()
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://test") as client:
                exporter.clear()
                response = await client.get("/health/ready")
        assert response.status_code == 200
    finally:
        if backend == "postgresql":
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

            AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    spans = exporter.get_finished_spans()
    [server] = [span for span in spans if span.kind is SpanKind.SERVER]
    assert server.name == "GET /health/ready"
    by_id = {span.context.span_id: span for span in spans}

    def under_server(span: object) -> bool:
        parent = getattr(span, "parent", None)
        while parent is not None:
            if parent.span_id == server.context.span_id:
                return True
            parent = getattr(by_id.get(parent.span_id), "parent", None)
        return False

    database = [
        span
        for span in spans
        if (span.attributes and "db.system" in span.attributes)
        or (span.attributes and "db.system.name" in span.attributes)
    ]
    assert database, [span.name for span in spans]
    assert all(span.context.trace_id == server.context.trace_id for span in database)
    assert all(under_server(span) for span in database)
    statements = " ".join(
        str(span.attributes.get("db.statement", "")) for span in database if span.attributes
    )
    assert "alembic_version" in statements or any("SELECT" in span.name for span in database)
