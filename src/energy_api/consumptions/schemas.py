from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from energy_api.consumptions.models import Consumption
from energy_api.schemas import (
    IdRef,
    InputModel,
    KwhInput,
    KwhOutput,
    MonthInput,
    MonthOutput,
    Page,
    PatchModel,
)


class ConsumptionCreate(InputModel):
    cliente: IdRef = Field(description="Client id", examples=[1])
    mes: MonthInput
    consumo_kwh: KwhInput


class ConsumptionUpdate(PatchModel):
    """PATCH body: any subset of the fields."""

    cliente: IdRef | None = Field(default=None, description="Client id", examples=[1])
    mes: MonthInput | None = None
    consumo_kwh: KwhInput | None = None


class ConsumptionRead(BaseModel):
    id: int
    cliente: int
    cliente_nome: str
    mes: MonthOutput
    consumo_kwh: KwhOutput
    criado_em: datetime

    @classmethod
    def from_model(cls, consumption: Consumption, client_name: str) -> ConsumptionRead:
        return cls(
            id=consumption.id,
            cliente=consumption.client_id,
            cliente_nome=client_name,
            mes=consumption.month,
            consumo_kwh=consumption.kwh,
            criado_em=consumption.created_at,
        )


class ConsumptionPage(Page[ConsumptionRead]):
    pass
