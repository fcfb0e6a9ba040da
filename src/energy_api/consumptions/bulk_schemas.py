"""The bulk load's wire types: the JSON envelope and the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from energy_api.consumptions.bulk import MAX_ROWS, Mode, OnConflict, Outcome
from energy_api.schemas import InputModel


class BulkRequest(InputModel):
    """A batch of records to load at once (`POST /api/v1/consumos/lote/`)."""

    # Each item is validated alone, so one bad row is reported, not the whole body refused.
    # More than MAX_ROWS items is a 413 (`bulk.parse_items`).
    itens: list[Any]
    modo: Mode | None = Field(
        default=None,
        description="tudo_ou_nada (default): any rejected row and nothing is written; "
        "parcial: the valid rows are written",
    )
    conflito: OnConflict | None = Field(
        default=None,
        description="A row whose client already has that month: erro (default) rejects it, "
        "substituir replaces the kWh, ignorar keeps the record as it is",
    )


class BulkError(BaseModel):
    indice: int | None = Field(description="Index of the item in itens (from 0), for JSON")
    linha: int | None = Field(description="Line of the CSV file (the header is line 1)")
    campo: str = Field(examples=["consumo_kwh"])
    mensagem: str


class BulkReport(BaseModel):
    simulacao: bool = Field(description="dry_run: judged, nothing written")
    gravado: bool = Field(description="Whether anything was written")
    total: int = Field(description="Rows received")
    inseridos: int
    substituidos: int
    inalterados: int = Field(description="substituir with the same kWh")
    ignorados: int = Field(description="ignorar: the month was taken")
    rejeitados: int = Field(description="Rows rejected (each has one or more erros)")
    erros: list[BulkError]

    @classmethod
    def from_outcome(cls, outcome: Outcome) -> BulkReport:
        return cls(
            simulacao=outcome.dry_run,
            gravado=outcome.written,
            total=outcome.total,
            inseridos=outcome.inserted,
            substituidos=outcome.replaced,
            inalterados=outcome.unchanged,
            ignorados=outcome.ignored,
            rejeitados=outcome.rejected_rows,
            erros=[
                BulkError(
                    indice=None if outcome.by_line else r.position,
                    linha=r.position if outcome.by_line else None,
                    campo=r.field,
                    mensagem=r.message,
                )
                for r in outcome.rejected
            ],
        )


def _enum(values: type[Mode] | type[OnConflict], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": [v.value for v in values], "description": description}


# The JSON body as OpenAPI shows it: the items are exactly the single POST's body.
BULK_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "BulkRequest",
    "required": ["itens"],
    "additionalProperties": False,
    "properties": {
        "itens": {
            "type": "array",
            "maxItems": MAX_ROWS,
            "items": {"$ref": "#/components/schemas/ConsumptionCreate"},
        },
        "modo": _enum(Mode, "tudo_ou_nada (default) or parcial"),
        "conflito": _enum(OnConflict, "erro (default), substituir or ignorar"),
    },
}
