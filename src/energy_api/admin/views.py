"""The admin's pages for clients, consumptions and users.

Reads use sqladmin's queries (clients, users) or the consumptions service (its list is built
for 12 M records: index-ordered pages and a bounded count). Every write overrides sqladmin's
`insert_model`, `update_model` and `delete_model` to call the domain service inside one
transaction (`admin.database.write`): nothing here writes a model itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from sqladmin import ModelView
from sqladmin.pagination import Pagination
from sqlalchemy import Select, String, cast, false, or_
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from wtforms import Form

from energy_api import months
from energy_api.admin import database
from energy_api.admin.filters import ClientIdFilter, MonthFilter
from energy_api.admin.forms import ClientForm, ConsumptionForm, UserCreateForm, UserEditForm
from energy_api.auth import service as auth_service
from energy_api.auth.models import Role, User
from energy_api.clients import service as clients_service
from energy_api.clients.models import Client
from energy_api.clients.service import ClientChanges
from energy_api.config import Settings
from energy_api.consumptions import service as consumptions_service
from energy_api.consumptions.models import Consumption
from energy_api.consumptions.service import ConsumptionChanges
from energy_api.db.functions import unicode_ilike
from energy_api.errors import InvalidInput
from energy_api.schemas import MAX_ID

T = TypeVar("T")
PAGE_SIZES = [25, 50, 100]


def kwh_text(value: Decimal | None) -> str:
    """1234.5 → "1.234,50" (pt-BR)."""
    if value is None:
        return ""
    return f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _pk(pk: Any) -> int:
    try:
        number = int(str(pk))
    except ValueError:
        raise HTTPException(404) from None
    if not 1 <= number <= MAX_ID:
        raise HTTPException(404)
    return number


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ServiceView(ModelView):
    """A view whose writes go through the services, in one transaction per request."""

    site_app: ClassVar[Starlette]
    settings: ClassVar[Settings]
    can_export = False
    can_import = False
    page_size = 50
    page_size_options = PAGE_SIZES

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await database.write(self.site_app, work)

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """Substring search ignoring case for every letter, wildcards taken as text."""
        pattern = _like_pattern(term)
        fields = [getattr(self.model, name) for name in self._search_fields]
        return stmt.where(
            or_(false(), *(unicode_ilike(cast(field, String), pattern) for field in fields))
        )


class ClientAdmin(ServiceView, model=Client):
    name = "Cliente"
    name_plural = "Clientes"
    icon = "fa-solid fa-building"
    column_list = [Client.id, Client.name, Client.document, Client.created_at]
    column_details_list = column_list
    column_labels = {
        Client.id: "Id",
        Client.name: "Nome",
        Client.document: "Documento",
        Client.created_at: "Criado em",
    }
    column_searchable_list = [Client.name, Client.document]
    column_sortable_list = [Client.id, Client.name]
    column_default_sort = [(Client.id, False)]
    form = ClientForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"nome": obj.name, "documento": obj.document}

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        async def work(session: AsyncSession) -> Client:
            return await clients_service.create(
                session, self.settings, name=data["nome"].strip(), document=data["documento"]
            )

        return await self._write(work)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        changes = ClientChanges(name=data["nome"].strip(), document=data["documento"])

        async def work(session: AsyncSession) -> Client:
            return await clients_service.update(session, self.settings, _pk(pk), changes)

        return await self._write(work)

    async def delete_model(self, request: Request, pk: Any) -> None:
        async def work(session: AsyncSession) -> None:
            await clients_service.delete(session, _pk(pk))

        await self._write(work)


def _client_text(model: Any, _: str) -> str:
    name = getattr(model, "client_name", None)
    return f"{name} (#{model.client_id})" if name else f"#{model.client_id}"


def _month_text(model: Any, _: str) -> str:
    return months.label(model.month)


def _kwh_cell(model: Any, _: str) -> str:
    return kwh_text(model.kwh)


def _month_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return months.parse_month_only(raw)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


class ConsumptionAdmin(ServiceView, model=Consumption):
    name = "Consumo"
    name_plural = "Consumos"
    icon = "fa-solid fa-bolt"
    column_list = [Consumption.id, Consumption.client_id, Consumption.month, Consumption.kwh]
    column_details_list = [*column_list, Consumption.created_at]
    column_labels = {
        Consumption.id: "Id",
        Consumption.client_id: "Cliente",
        Consumption.month: "Mês",
        Consumption.kwh: "Consumo (kWh)",
        Consumption.created_at: "Criado em",
    }
    column_formatters = {
        Consumption.client_id: _client_text,
        Consumption.month: _month_text,
        Consumption.kwh: _kwh_cell,
    }
    column_formatters_detail = column_formatters
    # The search box looks for the client's name or document (see `list`).
    column_searchable_list = [Consumption.client_id]
    column_sortable_list = [Consumption.id, Consumption.month, Consumption.kwh]
    column_filters = [
        ClientIdFilter("cliente", "Cliente (id)"),
        MonthFilter("de", "Do mês"),
        MonthFilter("ate", "Até o mês"),
    ]
    list_template = "sqladmin/consumption_list.html"
    form = ConsumptionForm

    def search_placeholder(self) -> str:
        return "nome ou documento do cliente"

    async def list(self, request: Request) -> Pagination:
        """Index-ordered pages and a count bounded at `BROWSE_COUNT_CAP`: fast at 12 M records
        whatever the filters (sqladmin's own list counts every matching row)."""
        page = self.validate_page_number(request.query_params.get("page"), 1)
        page_size = self.validate_page_number(request.query_params.get("pageSize"), 50)
        page_size = min(max(page_size, 1), max(PAGE_SIZES))
        client_raw = request.query_params.get("cliente")
        client_id = _pk(client_raw) if client_raw else None
        start, end = _month_param(request, "de"), _month_param(request, "ate")
        order = request.query_params.get("sortBy") or "month"
        if order not in consumptions_service.BROWSE_ORDERS:
            raise HTTPException(400, "Invalid sortBy parameter")
        descending = request.query_params.get("sort", "desc" if order == "month" else "asc")
        page = max(page, 1)

        async def work(session: AsyncSession) -> consumptions_service.BrowsePage:
            return await consumptions_service.browse(
                session,
                client_id=client_id,
                start=start,
                end=end,
                client_search=request.query_params.get("search") or None,
                order=order,
                descending=descending == "desc",
                limit=page_size,
                offset=(page - 1) * page_size,
            )

        try:
            found = await database.read(self.site_app, work)
        except InvalidInput as exc:
            raise HTTPException(400, exc.detail) from None
        rows = []
        for consumption, client_name in found.rows:
            setattr(consumption, "client_name", client_name)  # noqa: B010 - not a mapped field
            rows.append(consumption)
        request.state.browse = found
        last = max(1, -(-found.total // page_size))
        return Pagination(rows=rows, page=min(page, last), page_size=page_size, count=found.total)

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"cliente": obj.client_id, "mes": months.label(obj.month), "consumo_kwh": obj.kwh}

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        month = months.parse_month_only(data["mes"])

        async def work(session: AsyncSession) -> Consumption:
            consumption, _ = await consumptions_service.create(
                session, client_id=data["cliente"], month=month, kwh=data["consumo_kwh"]
            )
            return consumption

        return await self._write(work)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        changes = ConsumptionChanges(
            client_id=data["cliente"],
            month=months.parse_month_only(data["mes"]),
            kwh=data["consumo_kwh"],
        )

        async def work(session: AsyncSession) -> Consumption:
            consumption, _ = await consumptions_service.update(session, _pk(pk), changes)
            return consumption

        return await self._write(work)

    async def delete_model(self, request: Request, pk: Any) -> None:
        async def work(session: AsyncSession) -> None:
            await consumptions_service.delete(session, _pk(pk))

        await self._write(work)


def _role_text(model: Any, _: str) -> str:
    return str(model.role)


class UserAdmin(ServiceView, model=User):
    identity = "user"
    name = "Usuário"
    name_plural = "Usuários"
    icon = "fa-solid fa-users"
    column_list = [User.id, User.username, User.role, User.is_active, User.created_at]
    column_details_list = column_list
    column_labels = {
        User.id: "Id",
        User.username: "Usuário",
        User.role: "Papel",
        User.is_active: "Ativo",
        User.created_at: "Criado em",
    }
    column_searchable_list = [User.username]
    column_sortable_list = [User.id, User.username, User.role]
    column_default_sort = [(User.id, False)]
    form_create_rules = ["username", "password", "role"]
    form_edit_rules = ["role", "ativo", "password"]

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        return UserCreateForm if rules == self.form_create_rules else UserEditForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"role": obj.role, "ativo": obj.is_active}

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        async def work(session: AsyncSession) -> User:
            return await auth_service.create_user(
                session, data["username"].strip(), data["password"], Role(data["role"])
            )

        return await self._write(work)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        changes = auth_service.UserChanges(
            role=Role(data["role"]), active=bool(data["ativo"]), password=data["password"] or None
        )

        async def work(session: AsyncSession) -> User:
            return await auth_service.update_user(session, _pk(pk), changes)

        return await self._write(work)

    async def delete_model(self, request: Request, pk: Any) -> None:
        async def work(session: AsyncSession) -> None:
            await auth_service.delete_user(session, _pk(pk))

        await self._write(work)
