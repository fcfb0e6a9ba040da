from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from energy_api.auth.models import Role
from energy_api.schemas import InputModel

# Django's username characters, spelled out so JSON Schema (ECMA-262) and Python agree.
USERNAME_PATTERN = r"^[A-Za-z0-9_.@+-]+$"
USERNAME_MAX_LENGTH = 150
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=USERNAME_MAX_LENGTH, pattern=USERNAME_PATTERN)
]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class TokenRequest(InputModel):
    username: Username = Field(examples=["admin"])
    password: Password = Field(examples=["s3cret-passw0rd"])


class RefreshRequest(InputModel):
    refresh: str = Field(min_length=1, max_length=4096)


class TokenPair(BaseModel):
    access: str
    refresh: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires", examples=[1800])


class OAuth2Token(BaseModel):
    """The OAuth2 password-flow reply the /docs Authorize dialog expects."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role


class UserCreate(InputModel):
    username: Username
    password: Annotated[str, Field(min_length=8, max_length=1024)]
    role: Role = Role.viewer
