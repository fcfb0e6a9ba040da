from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from energy_api.clients.models import Client
from energy_api.schemas import InputModel, Page, PatchModel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# Raw document as typed (punctuation allowed); the service normalises and validates it.
DocumentInput = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
]


class ClientCreate(InputModel):
    nome: Name = Field(examples=["Maria da Silva"])
    documento: DocumentInput = Field(
        description="CPF or CNPJ; `.`, `-`, `/` and spaces are ignored",
        examples=["529.982.247-25"],
    )


class ClientUpdate(PatchModel):
    """PATCH body: any subset of the fields."""

    nome: Name | None = Field(default=None, examples=["Maria da Silva"])
    documento: DocumentInput | None = Field(default=None, examples=["12.ABC.345/01DE-35"])


class ClientRead(BaseModel):
    id: int
    nome: str
    documento: str = Field(description="Normalised: no punctuation, upper case")

    @classmethod
    def from_model(cls, client: Client) -> ClientRead:
        return cls(id=client.id, nome=client.name, documento=client.document)


class ClientPage(Page[ClientRead]):
    pass
