"""Notify listeners when a user row changes (PostgreSQL): processes cache who is active.

Every UPDATE or DELETE of `users` sends `NOTIFY energy_api_user_changed, '<id>'` when its
transaction commits; `energy_api.auth.principals.UserChangeListener` drops that user from its
process's cache. SQLite has no NOTIFY: there the app looks the user up on every request.

Revision ID: 20261129_0007
Revises: 20261129_0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "20261129_0007"
down_revision: str | None = "20261129_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "notify_user_changed"
TRIGGER = "tr_users_notify_changed"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('energy_api_user_changed', OLD.id::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OR DELETE ON users "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER {TRIGGER} ON users")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
