"""Imports every table module, so `Base.metadata` is complete (for Alembic and tests)."""

from __future__ import annotations


def load_all_models() -> None:
    from energy_api.auth import models as auth_models
    from energy_api.clients import models as clients_models
    from energy_api.consumptions import models as consumptions_models
    from energy_api.idempotency import models as idempotency_models
    from energy_api.summaries import models as summaries_models

    del auth_models, clients_models, consumptions_models, idempotency_models, summaries_models
