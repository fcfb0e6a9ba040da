"""Databases whose writes are committed, one per backend, for tests that race real requests or
run the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from energy_api.cli import migrate
from tests.conftest import make_settings
from tests.resilience.conftest import (
    OwnDatabase,
    base_url,
    create_own_database,
    own_database_url,
)


@pytest.fixture(params=["postgresql", "sqlite"])
def committed_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of each backend whose writes are committed (dropped afterwards)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
        migrate(make_settings(url))
        yield url
        return
    database: OwnDatabase
    for database in create_own_database(own_database_url(base_url(), "energy_race")):
        yield database.url
