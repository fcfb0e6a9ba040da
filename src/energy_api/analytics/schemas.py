from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from energy_api.schemas import KwhOutput, MonthOutput


def _number(value: Decimal) -> float:
    return float(value)


PercentOutput = Annotated[
    Decimal,
    PlainSerializer(_number, return_type=float),
    WithJsonSchema({"type": "number", "examples": [12.5]}),
]
ScoreOutput = Annotated[
    Decimal,
    PlainSerializer(_number, return_type=float),
    WithJsonSchema({"type": "number", "examples": [4.72]}),
]
MonthLabel = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "examples": ["2026-02"]}
    ),
]
Grouping = Literal["mes", "trimestre", "ano"]


class MeanConsumption(BaseModel):
    cliente_id: int = Field(examples=[1])
    media: KwhOutput = Field(description="Mean monthly kWh, rounded half-up to 2 decimals")
    ultimo_consumo: KwhOutput = Field(description="kWh of the latest month (not the latest insert)")
    ultimo_mes: MonthOutput
    meses: int = Field(description="Months with a record", examples=[2])


class Summary(BaseModel):
    de: MonthLabel | None = Field(
        description="First month covered: the requested `de`, else the first month with data"
    )
    ate: MonthLabel | None = Field(
        description="Last month covered: the requested `ate`, else the last month with data"
    )
    clientes: int = Field(description="Clients with data in the range", examples=[2])
    meses: int = Field(description="Distinct months with data", examples=[12])
    total_kwh: KwhOutput = Field(description="Sum of every monthly value")
    media_kwh: KwhOutput | None = Field(description="Mean of the monthly values (client × month)")
    min_kwh: KwhOutput | None = Field(description="Smallest monthly value")
    max_kwh: KwhOutput | None = Field(description="Largest monthly value")
    kwh_por_dia: KwhOutput | None = Field(
        description="total_kwh ÷ the days of the distinct months with data"
    )


class SeriesPoint(BaseModel):
    periodo: str = Field(description="`2025-03`, `2025-T1` or `2025`", examples=["2025-03"])
    total_kwh: KwhOutput
    clientes: int = Field(description="Clients with data in the period", examples=[2])
    kwh_por_dia: KwhOutput = Field(description="total_kwh ÷ the days of the months with data")
    variacao_pct: PercentOutput | None = Field(
        description="% change from the previous period; null when it has no data or is 0"
    )
    variacao_anual_pct: PercentOutput | None = Field(
        description="% change from the same period a year before; null when missing or 0"
    )
    media_movel_3: KwhOutput | None = Field(
        description="Mean of the months with data among the last 3 (monthly grouping only)"
    )
    media_movel_12: KwhOutput | None = Field(
        description="Mean of the months with data among the last 12 (monthly grouping only)"
    )


class MonthlySeries(BaseModel):
    cliente_id: int | None = Field(description="The client, or null for the whole portfolio")
    agrupar: Grouping
    pontos: list[SeriesPoint] = Field(description="Periods with data, oldest first")


class Growth(BaseModel):
    cliente_id: int = Field(examples=[1])
    mes: MonthOutput = Field(description="The client's latest month with data (within the range)")
    consumo_kwh: KwhOutput
    mes_anterior_kwh: KwhOutput | None = Field(
        description="The calendar month before; null if none"
    )
    variacao_mensal_pct: PercentOutput | None
    mesmo_mes_ano_anterior_kwh: KwhOutput | None = Field(
        description="Twelve calendar months before; null if none"
    )
    variacao_anual_pct: PercentOutput | None


class RankingItem(BaseModel):
    posicao: int = Field(description="1 + the number of clients with a larger total", examples=[1])
    cliente_id: int = Field(examples=[1])
    nome: str
    total_kwh: KwhOutput
    media_kwh: KwhOutput = Field(description="Mean of the client's monthly values in the range")
    meses: int = Field(description="The client's months with data in the range", examples=[12])


class Ranking(BaseModel):
    de: MonthLabel | None
    ate: MonthLabel | None
    itens: list[RankingItem] = Field(
        description="By total_kwh descending; ties share a position and are listed by cliente_id"
    )


class Trend(BaseModel):
    cliente_id: int = Field(examples=[1])
    meses: int = Field(description="Calendar months in the window", examples=[12])
    pontos: int = Field(description="Months with data used in the fit", examples=[12])
    inclinacao_kwh_mes: KwhOutput | None = Field(
        description="Least-squares slope in kWh per month; null with fewer than 3 points"
    )
    variacao_pct_ano: PercentOutput | None = Field(
        description="slope × 12 ÷ mean of the values × 100; null with fewer than 3 points or mean 0"
    )


class Anomaly(BaseModel):
    cliente_id: int = Field(examples=[1])
    nome: str
    mes: MonthOutput
    consumo_kwh: KwhOutput
    referencia_kwh: KwhOutput = Field(
        description="Median of the previous 12 months (mad) or the same month a year before"
    )
    desvio_pct: PercentOutput | None = Field(
        description="(consumo − referência) ÷ referência × 100"
    )
    score: ScoreOutput | None = Field(
        description="Robust z-score 0.6745 × (x − median) ÷ MAD; null unless metodo is mad, MAD > 0"
    )
    metodo: Literal["mad", "ano_anterior"]
    severidade: Literal["alerta", "critica"]
    direcao: Literal["alta", "baixa"]


class Anomalies(BaseModel):
    total: int = Field(description="Anomalies in the range, before `limite`", examples=[1])
    itens: list[Anomaly] = Field(description="Newest month first, then by cliente_id")
