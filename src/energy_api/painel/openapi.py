"""Print the service's OpenAPI document (`python -m energy_api.painel.openapi`): the
dashboard's TypeScript types are generated from it."""

from __future__ import annotations

import json
import sys

from energy_api.config import Settings
from energy_api.main import create_app

PLACEHOLDER_KEY = "openapi-document-only-" + "0" * 32


def document() -> str:
    settings = Settings(
        _env_file=None,
        database_url="sqlite+aiosqlite://",
        secret_key=PLACEHOLDER_KEY,
    )
    return json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
