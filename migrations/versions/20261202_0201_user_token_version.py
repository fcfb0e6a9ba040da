"""Users get a token version: raising it ends every token issued before.

Access tokens carry the version current when they were issued (`ver`); a token whose version is
not the user's current one is refused. A password change or reset raises it, so the user's other
logins end at their next request, not only when their access tokens expire. The admin's session
cookie carries it too. Tokens issued before this revision have no `ver` and count as version 0.

Revision ID: 20261202_0201
Revises: 20261202_0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0201"
down_revision: str | None = "20261202_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
