"""Control totals of the export files against the raw tables (orchestration/file_totals.py):
real files (the simulator's, and small ones written here), real dlt loads into a temporary
DuckDB, then the warehouse or the files tampered with the way things go wrong."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import pytest

from ingestion.aws_cur import aws_cur_source
from ingestion.azure_cost import azure_cost_source
from ingestion.focus import focus_source
from ingestion.gcp_billing import gcp_billing_source
from ingestion.simulator import SimConfig
from ingestion.simulator.exports import write_exports
from orchestration.file_totals import EXPORTS, reconcile_export, reconcile_run
from orchestration.settings import load_settings
from tests.unit.test_quarantine import ROW_CASES, gcp_file, gcp_line

FACTORIES = {
    "aws_cur": aws_cur_source,
    "gcp_billing": gcp_billing_source,
    "azure_cost": azure_cost_source,
    "focus": focus_source,
}
# ten days over a month end: AWS gzip CSV + Parquet, GCP JSON-lines + Parquet (DOUBLE money),
# Azure EA + MCA CSV, FOCUS CSV + Parquet
START, END = date(2026, 6, 25), date(2026, 7, 5)


def load(warehouse: Path, name: str, folder: Path, start: date = START, end: date = END) -> None:
    p = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=f"raw_{name}",
        pipelines_dir=str(warehouse.parent / "pl"),
    )
    p.run(FACTORIES[name](str(folder), start, end))


def reconcile(warehouse: Path, name: str, folder: Path, start: date = START, end: date = END):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return reconcile_export(con, name, folder, start, end)


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The simulator's four exports for START..END, each loaded by its dlt source."""
    base = tmp_path_factory.mktemp("sim")
    roots = write_exports(SimConfig(seed=7, start=START, end=END), base / "exports")
    warehouse = base / "warehouse.duckdb"
    for name in FACTORIES:
        load(warehouse, name, roots[name])
    return base / "exports", warehouse


@pytest.fixture
def copy(loaded: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the loaded exports and warehouse this test may tamper with (same file paths:
    the raw rows name the files they came from)."""
    exports, warehouse = loaded
    own = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, own)
    return exports, own


@pytest.fixture
def own_exports(tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    """Exports and warehouse of this test alone, one source loaded (for tests that change the
    files)."""

    def build(name: str) -> tuple[Path, Path]:
        roots = write_exports(SimConfig(seed=7, start=START, end=END), tmp_path / "exports")
        warehouse = tmp_path / "warehouse.duckdb"
        load(warehouse, name, roots[name])
        return tmp_path / "exports", warehouse

    return build


def test_the_simulators_exports_reconcile_file_by_file(loaded):
    exports, warehouse = loaded
    seen = set()
    for name in FACTORIES:
        result = reconcile(warehouse, name, exports / name)
        assert result.passed, [str(m) for m in result.mismatches]
        assert result.files and all(f.rows > 0 for f in result.files), name
        assert all(f.rows == f.raw_rows and f.quarantined == 0 for f in result.files)
        assert all(f.totals == f.raw_totals for f in result.files)  # to 12 decimals
        seen |= {Path(f.file).name.split(".", 1)[1] for f in result.files}
        spec = EXPORTS[name]
        label, column = next(iter(spec.money.items()))
        with duckdb.connect(str(warehouse), read_only=True) as con:
            [(raw_total,)] = con.execute(
                f"select sum({column}) from {spec.dataset}.{spec.table}"
            ).fetchall()
        assert result.totals()[label] == raw_total != 0
        assert "every file reconciles" in result.summary()
    assert {"csv.gz", "snappy.parquet", "jsonl", "parquet", "csv"} <= seen


def test_a_raw_row_deleted_names_the_file_and_the_row(copy):
    exports, warehouse = copy
    execute(warehouse, "delete from raw_aws_cur.cur_line_items where _source_row = 3")
    result = reconcile(warehouse, "aws_cur", exports / "aws_cur")
    assert not result.passed
    rows = [m for m in result.mismatches if m.what == "rows"]
    assert rows and all(m.in_file == str(int(m.in_warehouse) + 1) for m in rows)
    assert all("BILLING_PERIOD=" in m.file for m in rows)
    located = [m for m in result.mismatches if m.file.endswith(" row 3")]
    assert located and located[0].detail == "neither in raw nor in quarantine"
    assert "aws_cur" in result.summary() and "mismatch" in result.summary()


@pytest.mark.parametrize(
    ("name", "column", "label"),
    [
        ("gcp_billing", "cost", "cost"),
        ("gcp_billing", "credits_total", "credits"),
        ("azure_cost", "cost_in_billing_currency", "CostInBillingCurrency"),
        ("focus", "billed_cost", "BilledCost"),
        ("aws_cur", "line_item_unblended_cost", "line_item_unblended_cost"),
    ],
)
def test_a_raw_amount_off_by_a_cent_names_the_file_the_row_and_both_amounts(
    copy, name, column, label
):
    exports, warehouse = copy
    spec = EXPORTS[name]
    table = f"{spec.dataset}.{spec.table}"
    with duckdb.connect(str(warehouse)) as con:
        file, row, before = con.execute(
            f"select _source_file, _source_row, {column} from {table} "
            "order by _source_file desc, _source_row limit 1"
        ).fetchone()
        con.execute(
            f"update {table} set {column} = {column} + 0.01 "
            "where _source_file = ? and _source_row = ?",
            [file, row],
        )
    result = reconcile(warehouse, name, exports / name)
    [total, at_row] = result.mismatches
    assert (total.file, total.what) == (file, label)
    assert Decimal(total.in_warehouse) - Decimal(total.in_file) == Decimal("0.01")
    assert (at_row.file, at_row.what) == (f"{file} row {row}", label)
    assert Decimal(at_row.in_file) == before
    assert Decimal(at_row.in_warehouse) == before + Decimal("0.01")


def test_a_row_added_to_a_file_after_the_load_is_found(own_exports):
    exports, warehouse = own_exports("focus")
    path = sorted((exports / "focus").glob("*.csv"))[0]
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows.append(rows[-1])
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = reconcile(warehouse, "focus", exports / "focus")
    added = len(rows) - 1
    assert {(m.file, m.what) for m in result.mismatches} >= {
        (str(path), "rows"),
        (f"{path} row {added}", "row"),
    }
    assert result.mismatches[0].in_file == str(added)

    # a JSON-lines file too
    load(warehouse, "gcp_billing", exports / "gcp_billing")
    gcp = sorted((exports / "gcp_billing").glob("*.jsonl"))[0]
    lines = gcp.read_text().splitlines()
    gcp.write_text("\n".join([*lines, lines[0]]) + "\n")
    result = reconcile(warehouse, "gcp_billing", exports / "gcp_billing")
    assert {(m.file, m.what) for m in result.mismatches} >= {(str(gcp), "rows")}


def test_a_file_no_longer_delivered_leaves_raw_rows_that_are_reported(own_exports):
    """A partition no source delivers any more is never replaced by the merge: its rows stay
    in the bill, so the check names the file they came from."""
    exports, warehouse = own_exports("azure_cost")
    gone = sorted((exports / "azure_cost").rglob("*.csv"))[0]
    gone.unlink()
    load(warehouse, "azure_cost", exports / "azure_cost")  # the rows stay in raw
    result = reconcile(warehouse, "azure_cost", exports / "azure_cost")
    [m] = result.mismatches
    assert (m.file, m.what) == (str(gone), "file not delivered")
    assert "raw row(s)" in m.in_warehouse


NON_TELEMETRY = [c for c in ROW_CASES if c.values[0] != "telemetry"]


@pytest.mark.parametrize(("name", "write", "row", "field", "reason", "check"), NON_TELEMETRY)
def test_a_quarantined_row_is_accounted_for(tmp_path, name, write, row, field, reason, check):
    root, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    path = write(root)
    load(warehouse, name, root, date(2026, 6, 1), date(2026, 8, 1))
    result = reconcile(warehouse, name, root, date(2026, 6, 1), date(2026, 8, 1))
    assert result.passed, [str(m) for m in result.mismatches]
    [f] = result.files
    assert (f.file, f.rows, f.raw_rows, f.quarantined) == (str(path), 3, 2, 1)

    # the quarantine row lost: the check finds the row missing
    execute(warehouse, f"delete from raw_{name}.quarantine")
    result = reconcile(warehouse, name, root, date(2026, 6, 1), date(2026, 8, 1))
    assert (result.mismatches[0].file, result.mismatches[0].what) == (str(path), "rows")


def test_a_gcp_row_whose_invoice_month_is_not_yyyymm_is_quarantined_not_lost(tmp_path):
    """It used to belong to no month of the window and was silently skipped (found by this
    check: the file had 3 rows, raw 2, quarantine 0)."""
    root, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    path = gcp_file(root, gcp_line("5", month="2026-06"))
    load(warehouse, "gcp_billing", root, date(2026, 6, 1), date(2026, 8, 1))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select source_row, field, _partition from raw_gcp_billing.quarantine"
        ).fetchall() == [(2, "invoice.month", "?")]
    result = reconcile(warehouse, "gcp_billing", root, date(2026, 6, 1), date(2026, 8, 1))
    assert result.passed and result.files[0].quarantined == 1, result.summary()
    assert str(path) == result.files[0].file


def test_rows_and_raw_of_months_outside_the_window_are_not_compared(tmp_path):
    root, warehouse = tmp_path / "in", tmp_path / "w.duckdb"
    root.mkdir()
    path = root / "export.jsonl"
    path.write_text(
        "\n".join(
            [gcp_line("1.5", month="202605"), gcp_line("2.25"), gcp_line("4", month="202607")]
        )
        + "\n"
    )
    load(warehouse, "gcp_billing", root, date(2026, 5, 1), date(2026, 8, 1))  # all three
    result = reconcile(warehouse, "gcp_billing", root, date(2026, 6, 1), date(2026, 7, 1))
    assert result.passed, result.summary()
    [f] = result.files
    assert (f.rows, f.raw_rows, f.totals["cost"]) == (1, 1, Decimal("2.25"))
    assert f.totals["credits"] == Decimal("-0.1") and result.months == ["2026-06"]


def test_an_exact_file_must_match_to_the_last_decimal(tmp_path):
    """CSV money is text: the warehouse must hold it to 12 decimals (values with more decimals
    are rounded the same way, half away from zero, on both sides)."""
    root, warehouse = tmp_path / "cur", tmp_path / "w.duckdb"
    folder = root / "data" / "BILLING_PERIOD=2026-06"
    folder.mkdir(parents=True)
    values = ["0.0000000000005", "-0.0000000000015", "1.234567890123456", "7"]
    with (folder / "cur-00001.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["identity_line_item_id", "line_item_unblended_cost"])
        w.writerows([[f"a{i}", v] for i, v in enumerate(values)])
    load(warehouse, "aws_cur", root, date(2026, 6, 1), date(2026, 7, 1))
    result = reconcile(warehouse, "aws_cur", root, date(2026, 6, 1), date(2026, 7, 1))
    assert result.passed, result.summary()
    assert result.files[0].exact and result.files[0].totals == {
        "line_item_unblended_cost": Decimal("8.234567890122")
    }
    execute(
        warehouse,
        "update raw_aws_cur.cur_line_items set line_item_unblended_cost = "
        "line_item_unblended_cost + 0.000000000001 where _source_row = 4",
    )
    result = reconcile(warehouse, "aws_cur", root, date(2026, 6, 1), date(2026, 7, 1))
    assert [m.what for m in result.mismatches] == ["line_item_unblended_cost"] * 2


def test_a_disabled_provider_or_a_folder_without_files_passes_with_a_note(tmp_path, env):
    env.setenv("AISPEND_WAREHOUSE", str(tmp_path / "w.duckdb"))
    env.setenv("AISPEND_PROVIDERS", "openai")
    settings = load_settings()
    with duckdb.connect() as con:
        result = reconcile_run(con, "aws_cur", settings, {"AWS_CUR_EXPORT_PATH": str(tmp_path)})
        assert result.passed and "not in AISPEND_PROVIDERS" in result.summary()
        settings = replace(settings, providers=("aws_bedrock",))
        result = reconcile_run(con, "aws_cur", settings, {"AWS_CUR_EXPORT_PATH": str(tmp_path)})
        assert result.passed and "no export files" in result.summary()
        assert result.folder == str(tmp_path)
        # no export path set: the simulator's folder for the window
        result = reconcile_run(con, "focus", replace(settings, providers=("focus",)), {})
        assert result.folder.endswith(
            f"simulator_exports/seed{settings.simulator_seed}_"
            f"{settings.start_date}_{settings.end_date}/focus"
        )


def test_a_manifest_beside_the_data_is_no_file_to_reconcile(own_exports):
    exports, warehouse = own_exports("azure_cost")
    folder = exports / "azure_cost"
    (folder / "ea-actual-cost" / "manifest.json").write_text('{\n  "blobCount": 1\n}\n')
    load(warehouse, "azure_cost", folder)
    result = reconcile(warehouse, "azure_cost", folder)
    assert result.passed, result.summary()
    assert result.files and not [f for f in result.files if f.file.endswith(".json")]


def test_a_row_quarantined_whatever_the_window_is_no_false_alarm(tmp_path):
    """The sources quarantine a row whose period they cannot read (`?`) whatever its month: a
    GCP line with a key twice, an Azure CSV row with a field too many, though the month the
    check reads is outside the window. Accounted for, not a mismatch."""
    window = (date(2026, 6, 1), date(2026, 7, 1))
    root, warehouse = tmp_path / "gcp", tmp_path / "w.duckdb"
    root.mkdir()
    twice = gcp_line("5", month="202607")[:-1] + ', "cost": 7}'
    (root / "export.jsonl").write_text("\n".join([gcp_line("0.9"), twice]) + "\n")
    load(warehouse, "gcp_billing", root, *window)
    [f] = reconcile(warehouse, "gcp_billing", root, *window).files
    assert (f.rows, f.raw_rows, f.quarantined, f.quarantined_elsewhere) == (1, 1, 0, 1)

    az = tmp_path / "az"
    header = ["SubscriptionId", "Date", "CostInBillingCurrency", "BillingAccountId"]
    az.mkdir()
    with (az / "202606.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerows([header, ["s", "06/01/2026", "1.5", "ba"], ["s", "07/01/2026", "2", "ba", "x"]])
    load(warehouse, "azure_cost", az, *window)
    result = reconcile(warehouse, "azure_cost", az, *window)
    assert result.passed, result.summary()
    [f] = result.files
    assert (f.rows, f.raw_rows, f.quarantined, f.totals["CostInBillingCurrency"]) == (
        2,
        1,
        1,
        Decimal("1.5"),
    )
