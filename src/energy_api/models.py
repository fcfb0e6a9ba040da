"""Imports every table module, so `Base.metadata` is complete (for Alembic and tests)."""

from __future__ import annotations


def load_all_models() -> None:
    from energy_api.analytics import models as analytics_models
    from energy_api.auth import models as auth_models
    from energy_api.clients import models as clients_models
    from energy_api.consumptions import models as consumptions_models
    from energy_api.idempotency import models as idempotency_models

    del analytics_models, auth_models, clients_models, consumptions_models, idempotency_models
