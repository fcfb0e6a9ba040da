"""Flagged months: the client-months `anomalias` reports and their count per month, filled from
the records.

Revision ID: 20261129_0006
Revises: 20261129_0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261129_0006"
down_revision: str | None = "20261129_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The anomaly rule of 2026-11-29 over every record, as PostgreSQL and SQLite run it.
JUDGE_ALL_RECORDS_POSTGRESQL = """
    WITH targets AS (SELECT consumptions.client_id AS client_id, consumptions.month AS month,
    CAST(round(consumptions.kwh * 100) AS BIGINT) AS x FROM consumptions), history AS (SELECT
    targets.client_id AS client_id, targets.month AS month, CAST(round(earlier.kwh * 100) AS
    BIGINT) AS v FROM targets JOIN consumptions AS earlier ON earlier.client_id =
    targets.client_id AND earlier.month >= CAST((targets.month) + INTERVAL '-12 months' AS DATE)
    AND earlier.month < targets.month), medians AS (SELECT history.client_id AS client_id,
    history.month AS month, count(*) AS n, CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY
    history.v) * 2 AS BIGINT) AS m2 FROM history GROUP BY history.client_id, history.month),
    deviations AS (SELECT history.client_id AS client_id, history.month AS month, abs(2 *
    history.v - medians.m2) AS d FROM history JOIN medians ON medians.client_id =
    history.client_id AND medians.month = history.month WHERE medians.n >= 6), mads AS (SELECT
    deviations.client_id AS client_id, deviations.month AS month, count(*) AS n,
    CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY deviations.d) * 2 AS BIGINT) AS m2 FROM
    deviations GROUP BY deviations.client_id, deviations.month) INSERT INTO flagged_months
    (client_id, month, kwh_cents, reference_cents, deviation_bp, score_hundredths, method,
    severity, direction) SELECT joined.client_id, joined.month, joined.x AS kwh_cents, CAST(CASE
    WHEN (2 IS NULL OR 2 = 0) THEN NULL WHEN (CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2
    * joined.y END >= 0) THEN div(2 * CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 *
    joined.y END AS NUMERIC) * 1 + CAST(2 AS NUMERIC), 2 * CAST(2 AS NUMERIC)) ELSE -div(2 *
    (-(CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END AS NUMERIC) * 1)) +
    CAST(2 AS NUMERIC), 2 * CAST(2 AS NUMERIC)) END AS BIGINT) AS reference_cents, CAST(CASE
    WHEN (CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END IS NULL OR CASE WHEN
    (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END = 0) THEN NULL WHEN (2 * joined.x -
    CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END >= 0) THEN div(2 * CAST(2 *
    joined.x - CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END AS NUMERIC) *
    10000 + CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END AS NUMERIC), 2
    * CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END AS NUMERIC)) ELSE
    -div(2 * (-(CAST(2 * joined.x - CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y
    END AS NUMERIC) * 10000)) + CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 *
    joined.y END AS NUMERIC), 2 * CAST(CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 *
    joined.y END AS NUMERIC)) END AS BIGINT) AS deviation_bp, CASE WHEN (joined.n >= 6 AND
    joined.mad4 > 0) THEN CAST(CASE WHEN (100 * joined.mad4 IS NULL OR 100 * joined.mad4 = 0)
    THEN NULL WHEN (6745 * (4 * joined.x - 2 * joined.med2) >= 0) THEN div(2 * CAST(6745 * (4 *
    joined.x - 2 * joined.med2) AS NUMERIC) * 1 + CAST(100 * joined.mad4 AS NUMERIC), 2 *
    CAST(100 * joined.mad4 AS NUMERIC)) ELSE -div(2 * (-(CAST(6745 * (4 * joined.x - 2 *
    joined.med2) AS NUMERIC) * 1)) + CAST(100 * joined.mad4 AS NUMERIC), 2 * CAST(100 *
    joined.mad4 AS NUMERIC)) END AS BIGINT) ELSE NULL END AS score_hundredths, CASE WHEN
    (joined.n >= 6) THEN 'mad' ELSE 'ano_anterior' END AS method, CASE WHEN (joined.n >= 6 AND
    joined.mad4 > 0 AND 6745 * abs(4 * joined.x - 2 * joined.med2) > 70000 * joined.mad4) THEN
    'critica' WHEN (joined.n >= 6 AND joined.mad4 > 0 AND 6745 * abs(4 * joined.x - 2 *
    joined.med2) > 35000 * joined.mad4) THEN 'alerta' WHEN (joined.n >= 6 AND joined.mad4 = 0
    AND 2 * abs(2 * joined.x - joined.med2) > joined.med2 AND abs(2 * joined.x - joined.med2) >=
    joined.med2) THEN 'critica' WHEN (joined.n >= 6 AND joined.mad4 = 0 AND 2 * abs(2 * joined.x
    - joined.med2) > joined.med2) THEN 'alerta' WHEN ((joined.n IS NULL OR joined.n < 6) AND
    joined.y > 0 AND (joined.x >= 3 * joined.y OR 3 * joined.x <= joined.y)) THEN 'critica' WHEN
    ((joined.n IS NULL OR joined.n < 6) AND joined.y > 0 AND (joined.x >= 2 * joined.y OR 2 *
    joined.x <= joined.y)) THEN 'alerta' ELSE NULL END AS severity, CASE WHEN (2 * joined.x >
    CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END) THEN 'alta' ELSE 'baixa'
    END AS direction FROM (SELECT targets.client_id AS client_id, targets.month AS month,
    targets.x AS x, medians.n AS n, medians.m2 AS med2, mads.m2 AS mad4,
    CAST(round(year_before.kwh * 100) AS BIGINT) AS y FROM targets LEFT OUTER JOIN medians ON
    medians.client_id = targets.client_id AND medians.month = targets.month LEFT OUTER JOIN mads
    ON mads.client_id = targets.client_id AND mads.month = targets.month LEFT OUTER JOIN
    consumptions AS year_before ON year_before.client_id = targets.client_id AND
    year_before.month = CAST((targets.month) + INTERVAL '-12 months' AS DATE)) AS joined WHERE
    CASE WHEN (joined.n >= 6 AND joined.mad4 > 0 AND 6745 * abs(4 * joined.x - 2 * joined.med2)
    > 70000 * joined.mad4) THEN 'critica' WHEN (joined.n >= 6 AND joined.mad4 > 0 AND 6745 *
    abs(4 * joined.x - 2 * joined.med2) > 35000 * joined.mad4) THEN 'alerta' WHEN (joined.n >= 6
    AND joined.mad4 = 0 AND 2 * abs(2 * joined.x - joined.med2) > joined.med2 AND abs(2 *
    joined.x - joined.med2) >= joined.med2) THEN 'critica' WHEN (joined.n >= 6 AND joined.mad4 =
    0 AND 2 * abs(2 * joined.x - joined.med2) > joined.med2) THEN 'alerta' WHEN ((joined.n IS
    NULL OR joined.n < 6) AND joined.y > 0 AND (joined.x >= 3 * joined.y OR 3 * joined.x <=
    joined.y)) THEN 'critica' WHEN ((joined.n IS NULL OR joined.n < 6) AND joined.y > 0 AND
    (joined.x >= 2 * joined.y OR 2 * joined.x <= joined.y)) THEN 'alerta' ELSE NULL END IS NOT
    NULL
"""
JUDGE_ALL_RECORDS_SQLITE = """
    WITH targets AS (SELECT consumptions.client_id AS client_id, consumptions.month AS month,
    CAST(round(consumptions.kwh * 100) AS BIGINT) AS x FROM consumptions), history AS (SELECT
    targets.client_id AS client_id, targets.month AS month, CAST(round(earlier.kwh * 100) AS
    BIGINT) AS v FROM targets JOIN consumptions AS earlier ON earlier.client_id =
    targets.client_id AND earlier.month >= date(targets.month, '-12 months') AND earlier.month <
    targets.month), medians AS (SELECT medians_ranked.client_id AS client_id,
    medians_ranked.month AS month, max(medians_ranked.n) AS n, sum(CASE WHEN (medians_ranked.rn
    = (medians_ranked.n + 1) / 2 OR medians_ranked.rn = (medians_ranked.n + 2) / 2) THEN
    medians_ranked.v ELSE 0 END) * (1 + max(medians_ranked.n) % 2) AS m2 FROM (SELECT
    history.client_id AS client_id, history.month AS month, history.v AS v, row_number() OVER
    (PARTITION BY history.client_id, history.month ORDER BY history.v) AS rn, count(*) OVER
    (PARTITION BY history.client_id, history.month) AS n FROM history) AS medians_ranked GROUP
    BY medians_ranked.client_id, medians_ranked.month), deviations AS (SELECT history.client_id
    AS client_id, history.month AS month, abs(2 * history.v - medians.m2) AS d FROM history JOIN
    medians ON medians.client_id = history.client_id AND medians.month = history.month WHERE
    medians.n >= 6), mads AS (SELECT mads_ranked.client_id AS client_id, mads_ranked.month AS
    month, max(mads_ranked.n) AS n, sum(CASE WHEN (mads_ranked.rn = (mads_ranked.n + 1) / 2 OR
    mads_ranked.rn = (mads_ranked.n + 2) / 2) THEN mads_ranked.v ELSE 0 END) * (1 +
    max(mads_ranked.n) % 2) AS m2 FROM (SELECT deviations.client_id AS client_id,
    deviations.month AS month, deviations.d AS v, row_number() OVER (PARTITION BY
    deviations.client_id, deviations.month ORDER BY deviations.d) AS rn, count(*) OVER
    (PARTITION BY deviations.client_id, deviations.month) AS n FROM deviations) AS mads_ranked
    GROUP BY mads_ranked.client_id, mads_ranked.month) INSERT INTO flagged_months (client_id,
    month, kwh_cents, reference_cents, deviation_bp, score_hundredths, method, severity,
    direction) SELECT joined.client_id, joined.month, joined.x AS kwh_cents, CAST(CASE WHEN (2
    IS NULL OR 2 = 0) THEN NULL WHEN (CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 *
    joined.y END >= 0) THEN ((2 * (CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y
    END) * 1 + (2)) / (2 * (2))) ELSE -((2 * (-((CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE
    2 * joined.y END) * 1)) + (2)) / (2 * (2))) END AS BIGINT) AS reference_cents, CAST(CASE
    WHEN (CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END IS NULL OR CASE WHEN
    (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END = 0) THEN NULL WHEN (2 * joined.x -
    CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END >= 0) THEN ((2 * (2 *
    joined.x - CASE WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END) * 10000 + (CASE
    WHEN (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END)) / (2 * (CASE WHEN (joined.n >=
    6) THEN joined.med2 ELSE 2 * joined.y END))) ELSE -((2 * (-((2 * joined.x - CASE WHEN
    (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END) * 10000)) + (CASE WHEN (joined.n >=
    6) THEN joined.med2 ELSE 2 * joined.y END)) / (2 * (CASE WHEN (joined.n >= 6) THEN
    joined.med2 ELSE 2 * joined.y END))) END AS BIGINT) AS deviation_bp, CASE WHEN (joined.n >=
    6 AND joined.mad4 > 0) THEN CAST(CASE WHEN (100 * joined.mad4 IS NULL OR 100 * joined.mad4 =
    0) THEN NULL WHEN (6745 * (4 * joined.x - 2 * joined.med2) >= 0) THEN ((2 * (6745 * (4 *
    joined.x - 2 * joined.med2)) * 1 + (100 * joined.mad4)) / (2 * (100 * joined.mad4))) ELSE
    -((2 * (-((6745 * (4 * joined.x - 2 * joined.med2)) * 1)) + (100 * joined.mad4)) / (2 * (100
    * joined.mad4))) END AS BIGINT) ELSE NULL END AS score_hundredths, CASE WHEN (joined.n >= 6)
    THEN 'mad' ELSE 'ano_anterior' END AS method, CASE WHEN (joined.n >= 6 AND joined.mad4 > 0
    AND 6745 * abs(4 * joined.x - 2 * joined.med2) > 70000 * joined.mad4) THEN 'critica' WHEN
    (joined.n >= 6 AND joined.mad4 > 0 AND 6745 * abs(4 * joined.x - 2 * joined.med2) > 35000 *
    joined.mad4) THEN 'alerta' WHEN (joined.n >= 6 AND joined.mad4 = 0 AND 2 * abs(2 * joined.x
    - joined.med2) > joined.med2 AND abs(2 * joined.x - joined.med2) >= joined.med2) THEN
    'critica' WHEN (joined.n >= 6 AND joined.mad4 = 0 AND 2 * abs(2 * joined.x - joined.med2) >
    joined.med2) THEN 'alerta' WHEN ((joined.n IS NULL OR joined.n < 6) AND joined.y > 0 AND
    (joined.x >= 3 * joined.y OR 3 * joined.x <= joined.y)) THEN 'critica' WHEN ((joined.n IS
    NULL OR joined.n < 6) AND joined.y > 0 AND (joined.x >= 2 * joined.y OR 2 * joined.x <=
    joined.y)) THEN 'alerta' ELSE NULL END AS severity, CASE WHEN (2 * joined.x > CASE WHEN
    (joined.n >= 6) THEN joined.med2 ELSE 2 * joined.y END) THEN 'alta' ELSE 'baixa' END AS
    direction FROM (SELECT targets.client_id AS client_id, targets.month AS month, targets.x AS
    x, medians.n AS n, medians.m2 AS med2, mads.m2 AS mad4, CAST(round(year_before.kwh * 100) AS
    BIGINT) AS y FROM targets LEFT OUTER JOIN medians ON medians.client_id = targets.client_id
    AND medians.month = targets.month LEFT OUTER JOIN mads ON mads.client_id = targets.client_id
    AND mads.month = targets.month LEFT OUTER JOIN consumptions AS year_before ON
    year_before.client_id = targets.client_id AND year_before.month = date(targets.month,
    '-12 months')) AS joined WHERE CASE WHEN (joined.n >= 6 AND joined.mad4 > 0 AND 6745 * abs(4
    * joined.x - 2 * joined.med2) > 70000 * joined.mad4) THEN 'critica' WHEN (joined.n >= 6 AND
    joined.mad4 > 0 AND 6745 * abs(4 * joined.x - 2 * joined.med2) > 35000 * joined.mad4) THEN
    'alerta' WHEN (joined.n >= 6 AND joined.mad4 = 0 AND 2 * abs(2 * joined.x - joined.med2) >
    joined.med2 AND abs(2 * joined.x - joined.med2) >= joined.med2) THEN 'critica' WHEN
    (joined.n >= 6 AND joined.mad4 = 0 AND 2 * abs(2 * joined.x - joined.med2) > joined.med2)
    THEN 'alerta' WHEN ((joined.n IS NULL OR joined.n < 6) AND joined.y > 0 AND (joined.x >= 3 *
    joined.y OR 3 * joined.x <= joined.y)) THEN 'critica' WHEN ((joined.n IS NULL OR joined.n <
    6) AND joined.y > 0 AND (joined.x >= 2 * joined.y OR 2 * joined.x <= joined.y)) THEN
    'alerta' ELSE NULL END IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "flagged_months",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kwh_cents", sa.BigInteger(), nullable=False),
        sa.Column("reference_cents", sa.BigInteger(), nullable=False),
        sa.Column("deviation_bp", sa.BigInteger(), nullable=True),
        sa.Column("score_hundredths", sa.BigInteger(), nullable=True),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("severity", sa.String(length=7), nullable=False),
        sa.Column("direction", sa.String(length=5), nullable=False),
        sa.CheckConstraint(
            "method IN ('mad', 'ano_anterior')", name=op.f("ck_flagged_months_method")
        ),
        sa.CheckConstraint(
            "severity IN ('alerta', 'critica')", name=op.f("ck_flagged_months_severity")
        ),
        sa.CheckConstraint(
            "direction IN ('alta', 'baixa')", name=op.f("ck_flagged_months_direction")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_flagged_months_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "month", name=op.f("pk_flagged_months")),
    )
    op.create_index(
        op.f("ix_flagged_months_month_client_id"),
        "flagged_months",
        [sa.text("month DESC"), "client_id"],
    )
    op.create_table(
        "flagged_month_counts",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_flagged_month_counts")),
    )
    # The flags of the records that already exist, judged by the rule as it was written when
    # this revision was (frozen here as SQL, so a later change to the rule cannot change what
    # this migration does; such a change ships with a migration that rebuilds the table).
    dialect = op.get_bind().dialect.name
    op.execute(
        JUDGE_ALL_RECORDS_POSTGRESQL if dialect == "postgresql" else JUDGE_ALL_RECORDS_SQLITE
    )
    op.execute(
        "INSERT INTO flagged_month_counts (month, flagged) "
        "SELECT month, count(*) FROM flagged_months GROUP BY month"
    )


def downgrade() -> None:
    op.drop_table("flagged_month_counts")
    op.drop_table("flagged_months")
