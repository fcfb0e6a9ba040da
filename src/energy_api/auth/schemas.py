from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from energy_api.auth import passwords
from energy_api.auth.models import Role, User
from energy_api.schemas import InputModel, Page, PatchModel

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


NewPassword = Annotated[
    str,
    Field(
        min_length=passwords.MIN_LENGTH,
        max_length=passwords.MAX_LENGTH,
        description=f"A new password: {passwords.RULES_TEXT}",
        examples=["s3nha-bem-longa"],
    ),
]


class UserCreate(InputModel):
    username: Username
    password: NewPassword
    role: Role = Role.viewer


class UserDetail(BaseModel):
    """A user as admins see it."""

    id: int
    username: str
    role: Role
    ativo: bool = Field(description="Inactive users cannot log in; their tokens are refused")
    criado_em: datetime

    @classmethod
    def from_model(cls, user: User) -> UserDetail:
        return cls(
            id=user.id,
            username=user.username,
            role=Role(user.role),
            ativo=user.is_active,
            criado_em=user.created_at,
        )


class UserPage(Page[UserDetail]):
    pass


class UserUpdate(PatchModel):
    """PATCH body: any subset of the fields. `password` resets the password and ends every
    login of the user."""

    role: Role | None = None
    ativo: StrictBool | None = None
    password: NewPassword | None = None


class PasswordChange(InputModel):
    senha_atual: Password = Field(description="The caller's current password")
    nova_senha: NewPassword
