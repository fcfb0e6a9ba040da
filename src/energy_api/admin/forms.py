"""The admin's forms: what a person types, checked as far as a form can; the services check
the rest (document check digits, duplicates, the password policy, the last admin)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import BooleanField, Form, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields import DecimalField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import MonthInput, TextInput

from energy_api import months
from energy_api.auth import passwords
from energy_api.auth.models import Role
from energy_api.auth.schemas import USERNAME_MAX_LENGTH, USERNAME_PATTERN
from energy_api.schemas import KWH_MAX, MAX_ID

CONTROL = {"class": "form-control"}
SELECT = {"class": "form-select"}
CHECK = {"class": "form-check-input"}

ROLE_CHOICES = [
    (Role.viewer.value, "viewer — lê"),
    (Role.editor.value, "editor — também grava clientes e consumos"),
    (Role.admin.value, "admin — tudo, inclusive usuários"),
]


class MonthField(StringField):
    """A calendar month typed as YYYY-MM (the browser shows a month picker)."""

    widget = MonthInput()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.month: Any = None

    def pre_validate(self, form: Any) -> None:
        try:
            self.month = months.parse_month_only(self.data or "")
        except ValueError as exc:
            raise ValidationError(f"Mês {exc}") from None


class KwhField(DecimalField):
    """kWh with at most two decimals; a decimal comma is accepted (350,5), so the input is
    text (a number input refuses the comma)."""

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist:
            valuelist = [str(valuelist[0]).strip().replace(",", ".")]
        super().process_formdata(valuelist)
        if isinstance(self.data, Decimal):
            try:
                exponent = self.data.as_tuple().exponent
            except InvalidOperation:  # pragma: no cover - DecimalField refused it already
                exponent = 0
            if not isinstance(exponent, int) or exponent < -2:
                self.data = None
                raise ValueError("Use at most two decimals")


class ClientForm(Form):
    nome = StringField("Nome", validators=[DataRequired(), Length(max=255)], render_kw=CONTROL)
    documento = StringField(
        "Documento",
        description="CPF ou CNPJ (pontuação é ignorada); os dígitos verificadores são conferidos",
        validators=[DataRequired(), Length(max=32)],
        render_kw=CONTROL,
    )


class ConsumptionForm(Form):
    cliente = IntegerField(
        "Cliente (id)",
        description="O id do cliente, como na lista de clientes",
        validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)],
        render_kw=CONTROL,
    )
    mes = MonthField("Mês", validators=[InputRequired()], render_kw=CONTROL)
    consumo_kwh = KwhField(
        "Consumo (kWh)",
        places=2,
        validators=[InputRequired(), NumberRange(min=0, max=KWH_MAX)],
        render_kw={**CONTROL, "inputmode": "decimal"},
    )


class UserCreateForm(Form):
    username = StringField(
        "Usuário",
        validators=[
            DataRequired(),
            Length(max=USERNAME_MAX_LENGTH),
            Regexp(USERNAME_PATTERN, message="Letras, dígitos e _ . @ + - apenas"),
        ],
        render_kw={**CONTROL, "autocomplete": "off"},
    )
    password = PasswordField(
        "Senha",
        description=f"Mínimo {passwords.MIN_LENGTH} caracteres, com letra e dígito",
        validators=[DataRequired(), Length(max=passwords.MAX_LENGTH)],
        render_kw={**CONTROL, "autocomplete": "new-password"},
    )
    role = SelectField("Papel", choices=ROLE_CHOICES, default=Role.viewer.value, render_kw=SELECT)


class UserEditForm(Form):
    role = SelectField("Papel", choices=ROLE_CHOICES, render_kw=SELECT)
    ativo = BooleanField(
        "Ativo", description="Inativo: não entra e seus tokens são recusados", render_kw=CHECK
    )
    password = PasswordField(
        "Nova senha",
        description="Deixe em branco para manter; uma nova senha encerra todos os logins",
        validators=[Optional(), Length(max=passwords.MAX_LENGTH)],
        render_kw={**CONTROL, "autocomplete": "new-password"},
    )
