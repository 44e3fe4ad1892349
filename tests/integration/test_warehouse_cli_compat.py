"""People query the warehouse with the DuckDB CLI shipped in the venv: the file must be readable by it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from arb.warehouse.schema import migrate
from tests.conftest import REPO


def test_duckdb_cli_reads_the_warehouse(tmp_path):
    db = tmp_path / "arb.duckdb"
    migrate(db)
    cli = REPO / ".venv" / "bin" / "duckdb"
    exe = str(cli) if cli.exists() else shutil.which("duckdb")
    assert exe, "the duckdb CLI (pip duckdb-cli) should be installed by `make setup`"
    p = subprocess.run([exe, "-readonly", str(db), "select count(*) from decisions"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "0" in p.stdout and "count_star()" in p.stdout
    assert Path(db).stat().st_size > 0
