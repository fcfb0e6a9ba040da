"""`energy-api import-csv FILE`: the bulk load's service from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import database, migrated_template, query, run  # noqa: F401 - fixtures

INSERT_CLIENT = "INSERT INTO clients (id, name, document) VALUES (7, 'Ana', '52998224725')"


def _with_client(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as connection:
        connection.execute(INSERT_CLIENT)


def test_import_csv_loads_the_file_and_keeps_the_summaries_exact(
    database: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _with_client(database)
    source = tmp_path / "lote.csv"
    source.write_text("cliente;mes;consumo_kwh\n7;2025-01;1.000,50\n7;2025-02;20\n", "utf-8-sig")
    result = run(database, "import-csv", str(source))
    assert result.returncode == 0, result.stderr
    assert "2 inserted" in result.stdout
    assert query(database, "SELECT month, kwh FROM consumptions ORDER BY month") == [
        ("2025-01-01", 1000.5),
        ("2025-02-01", 20),
    ]
    verify = run(database, "summaries", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_import_csv_dry_run_reports_every_rejected_line_and_writes_nothing(
    database: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _with_client(database)
    source = tmp_path / "lote.csv"
    source.write_text("cliente,mes,consumo_kwh\n7,2025-01,-1\n8,2025-02,1\n7,2025-03,2\n")
    result = run(database, "import-csv", str(source), "--dry-run", "--modo", "parcial")
    assert result.returncode == 1
    assert "line 2: consumo_kwh:" in result.stdout
    assert "line 3: cliente: Client 8 does not exist" in result.stdout
    assert "1 inserted" in result.stdout and "2 rejected" in result.stdout
    assert "dry run" in result.stdout
    assert query(database, "SELECT count(*) FROM consumptions") == [(0,)]


def test_import_csv_all_or_nothing_writes_nothing_when_a_row_is_rejected(
    database: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    _with_client(database)
    source = tmp_path / "lote.csv"
    source.write_text("cliente,mes,consumo_kwh\n7,2025-01,1\n7,2025-13,1\n")
    result = run(database, "import-csv", str(source))
    assert result.returncode == 1
    assert "nothing was written" in result.stdout
    assert query(database, "SELECT count(*) FROM consumptions") == [(0,)]


def test_import_csv_of_a_missing_file_is_one_line(database: Path, tmp_path: Path) -> None:  # noqa: F811
    result = run(database, "import-csv", str(tmp_path / "none.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith("energy-api: cannot read")
