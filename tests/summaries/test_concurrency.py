"""Seeded random writes racing each other through the real app: the summaries stay exact.

Many tasks write at once — POST, PUT, PATCH and DELETE of consumptions (the same records edited,
records moved between months and clients, deletes racing edits) and PATCH, PUT and DELETE of
clients (client deletes racing inserts for them) — through two apps with their own engines and
pools (two workers) on PostgreSQL, one app on SQLite. Once the writes settle, every summary row
equals a rebuild from the records (`summaries.service.verify`), every portfolio answer equals
one recomputed from the records in Python, and no request got a 5xx.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from httpx import AsyncClient, Response

from energy_api import months
from energy_api.auth.models import Role
from energy_api.db import create_engine, create_sessionmaker
from energy_api.summaries import service as summaries_service
from tests.conftest import access_token, make_settings
from tests.factories import next_cpf
from tests.resilience.conftest import (
    add_committed_user,
    running_app,
)
from tests.summaries import support

FIRST = date(2150, 1, 1)
MONTHS = [months.shift(FIRST, offset) for offset in range(36)]
KWH = [100, 100, 101, 99, 100.5, 98.25, 300, 20, 0, 1234.56]
ALLOWED = {200, 201, 204, 404, 409, 422}


@dataclass(frozen=True)
class Plan:
    workers: int  # apps, each with its own engine and pool
    tasks: int
    writes: int
    clients: int
    seed: int


PLANS = {
    "postgresql": Plan(workers=2, tasks=24, writes=2000, clients=30, seed=20261202),
    "sqlite": Plan(workers=1, tasks=6, writes=300, clients=8, seed=20261203),
}


@dataclass
class World:
    """What the writers know: ids that exist or existed (picking gone ones races deletes)."""

    rng: random.Random
    clients: list[int]
    documents: dict[int, str]
    records: list[int] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def client(self) -> int:
        return self.rng.choice(self.clients)

    def month(self) -> str:
        return months.label(self.rng.choice(MONTHS))

    def kwh(self) -> float:
        return self.rng.choice(KWH)

    def record(self) -> int:
        return self.rng.choice(self.records) if self.records else 1


async def _write(http: AsyncClient, world: World, rng: random.Random) -> None:
    action = rng.choices(
        ["post", "put", "patch", "delete", "client-patch", "client-put", "client-delete", "client"],
        weights=[34, 14, 20, 12, 5, 4, 3, 8],
    )[0]
    response: Response
    if action == "post":
        body = {"cliente": world.client(), "mes": world.month(), "consumo_kwh": world.kwh()}
        response = await http.post("/api/v1/consumos/", json=body)
        if response.status_code == 201:
            world.records.append(response.json()["id"])
    elif action == "put":
        body = {"cliente": world.client(), "mes": world.month(), "consumo_kwh": world.kwh()}
        response = await http.put(f"/api/v1/consumos/{world.record()}/", json=body)
    elif action == "patch":
        fields = {
            "cliente": world.client(),
            "mes": world.month(),
            "consumo_kwh": world.kwh(),
        }
        chosen = rng.sample(sorted(fields), rng.randint(1, 3))
        response = await http.patch(
            f"/api/v1/consumos/{world.record()}/", json={name: fields[name] for name in chosen}
        )
    elif action == "delete":
        response = await http.delete(f"/api/v1/consumos/{world.record()}/")
    elif action == "client-patch":
        response = await http.patch(
            f"/api/v1/clientes/{world.client()}/", json={"nome": f"Cliente {rng.randint(1, 99)}"}
        )
    elif action == "client-put":
        client_id = world.client()
        response = await http.put(
            f"/api/v1/clientes/{client_id}/",
            json={"nome": "Renomeado", "documento": world.documents[client_id]},
        )
    elif action == "client-delete":
        response = await http.delete(f"/api/v1/clientes/{world.client()}/")
    else:
        document = next_cpf()
        response = await http.post(
            "/api/v1/clientes/", json={"nome": "Novo", "documento": document}
        )
        if response.status_code == 201:
            world.clients.append(response.json()["id"])
            world.documents[response.json()["id"]] = document
    world.statuses[(action, response.status_code)] += 1


class _Retries(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def test_concurrent_writes_leave_every_summary_and_answer_exact(
    committed_url: str,
) -> None:
    backend = committed_url.split(":", 1)[0].split("+")[0]
    plan = PLANS[backend]
    settings = make_settings(committed_url)
    editor = await add_committed_user(committed_url, Role.editor)
    headers = {"Authorization": f"Bearer {access_token(settings, editor)}"}
    retries = _Retries()
    logging.getLogger("energy_api.http.routing").addHandler(retries)
    try:
        async with AsyncExitStack() as stack:
            apps = [
                await stack.enter_async_context(running_app(settings)) for _ in range(plan.workers)
            ]
            for app in apps:
                app.headers.update(headers)
            world = World(random.Random(plan.seed), [], {})
            for _ in range(plan.clients):
                document = next_cpf()
                created = await apps[0].post(
                    "/api/v1/clientes/", json={"nome": "Cliente", "documento": document}
                )
                assert created.status_code == 201, created.text
                world.clients.append(created.json()["id"])
                world.documents[created.json()["id"]] = document

            async def writer(number: int) -> None:
                rng = random.Random(plan.seed * 1000 + number)
                http = apps[number % len(apps)]
                for _ in range(plan.writes // plan.tasks):
                    await _write(http, world, rng)

            async with asyncio.timeout(90):
                await asyncio.gather(*(writer(n) for n in range(plan.tasks)))
            answers = {
                "resumo": (await apps[0].get("/api/v1/analytics/resumo/")).json(),
                "ranking": (
                    await apps[0].get("/api/v1/analytics/ranking/", params={"limite": 100})
                ).json(),
                "ranking-12": (
                    await apps[0].get(
                        "/api/v1/analytics/ranking/",
                        params={"limite": 100, "de": "2151-01", "ate": "2151-12"},
                    )
                ).json(),
                "mes": (await apps[0].get("/api/v1/analytics/serie-mensal/")).json(),
                "trimestre": (
                    await apps[0].get(
                        "/api/v1/analytics/serie-mensal/", params={"agrupar": "trimestre"}
                    )
                ).json(),
                "anomalias": (
                    await apps[0].get("/api/v1/analytics/anomalias/", params={"limite": 1000})
                ).json(),
            }
    finally:
        logging.getLogger("energy_api.http.routing").removeHandler(retries)

    statuses = Counter(status for (_, status) in world.statuses.elements())
    report = (
        f"{backend}: {sum(statuses.values())} writes, statuses {dict(sorted(statuses.items()))}"
    )
    print(f"\n{report}, {retries.count} transaction retries")
    assert set(statuses) <= ALLOWED, dict(world.statuses)
    assert statuses[201] + statuses[200] + statuses[204] > plan.writes // 3  # real work was done

    engine = create_engine(committed_url, settings)
    try:
        async with create_sessionmaker(engine)() as session:
            assert await summaries_service.verify(session) == []
            rows = await support.records(session)
            flagged = await support.flagged(session)
    finally:
        await engine.dispose()
    assert rows, "the race left no records to compare"
    assert {k: answers["resumo"][k] for k in support.summary(rows)} == support.summary(rows)

    def ranked(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k != "nome"} for item in body["itens"]]

    assert ranked(answers["ranking"]) == support.ranking(rows, None, None)[:100]
    window = support.ranking(rows, date(2151, 1, 1), date(2151, 12, 1))
    assert ranked(answers["ranking-12"]) == window[:100]

    def points(body: dict[str, Any]) -> list[dict[str, Any]]:
        keys = ("periodo", "total_kwh", "clientes", "kwh_por_dia")
        return [{k: point[k] for k in keys} for point in body["pontos"]]

    assert points(answers["mes"]) == support.series(rows, 1)
    assert points(answers["trimestre"]) == support.series(rows, 3)
    anomalies = answers["anomalias"]
    assert anomalies["total"] == len(flagged)
    assert [(a["cliente_id"], a["mes"], a["severidade"]) for a in anomalies["itens"]] == flagged
