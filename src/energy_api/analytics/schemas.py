from __future__ import annotations

from pydantic import BaseModel, Field

from energy_api.consumptions.schemas import KwhOutput, MonthOutput


class MeanConsumption(BaseModel):
    cliente_id: int = Field(examples=[1])
    media: KwhOutput = Field(description="Mean monthly kWh, rounded half-up to 2 decimals")
    ultimo_consumo: KwhOutput = Field(description="kWh of the latest month (not the latest insert)")
    ultimo_mes: MonthOutput
    meses: int = Field(description="Months with a record", examples=[2])
