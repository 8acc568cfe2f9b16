"""The export file sources read only what changed (ingestion/_file_ledger.py): an unchanged file
is not read again and its rows keep their load id, while every partition a run does reload is
reloaded whole, from every file that holds it. After every step the raw table must equal a
fresh load of the same files and window: nothing lost, nothing doubled. Real dlt pipelines
into temp DuckDB files."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import ingestion.gcp_billing as gcp
from tests.unit.test_quarantine import (
    azure_file,
    cur_file,
    focus_file,
    gcp_file,
    gcp_line,
    load,
    q,
    quarantined,
    write_csv,
)

JUNE, JULY, AUG = date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1)
TABLES = {
    "aws_cur": "cur_line_items",
    "gcp_billing": "billing_export",
    "azure_cost": "cost_details",
    "focus": "focus_rows",
}
WRITERS = {
    "aws_cur": lambda root: cur_file(root, {}),
    "gcp_billing": lambda root: gcp_file(root, gcp_line("0.5")),
    "azure_cost": lambda root: azure_file(root, {}),
    "focus": lambda root: focus_file(root, {}),
}


def rows(tmp_path: Path, name: str) -> list[tuple[Any, ...]]:
    """The raw table's rows, without dlt's own columns, in a fixed order."""
    return q(
        tmp_path,
        f"select * exclude (_dlt_load_id, _dlt_id) from raw_{name}.{TABLES[name]} "
        "order by _row_key",
    )


def load_ids(tmp_path: Path, name: str) -> dict[str, set[str]]:
    """The load ids of each partition's rows."""
    out: dict[str, set[str]] = {}
    for partition, load_id in q(
        tmp_path, f"select distinct _partition, _dlt_load_id from raw_{name}.{TABLES[name]}"
    ):
        out.setdefault(partition, set()).add(load_id)
    return out


def fresh(tmp_path: Path, name: str, root: Path, window: tuple[date, date]) -> list[Any]:
    """The rows a first load of the same files and window lands."""
    other = tmp_path / f"fresh{len(list(tmp_path.glob('fresh*')))}"
    other.mkdir()
    load(other, name, root, window)
    return rows(other, name)


def redeliver(path: Path, text: str | None = None) -> None:
    """Write a file again (a provider's re-delivery): new content, or the same bytes with a
    later modification time."""
    if text is not None:
        path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.mark.parametrize("name", list(TABLES))
def test_an_unchanged_export_is_not_read_again_and_keeps_its_load_id(tmp_path, name):
    root = tmp_path / "in"
    path = WRITERS[name](root)
    load(tmp_path, name, root)
    first, before = load_ids(tmp_path, name), rows(tmp_path, name)
    assert len(before) == 3 and len(set().union(*first.values())) == 1
    load(tmp_path, name, root)
    assert load_ids(tmp_path, name) == first and rows(tmp_path, name) == before
    # re-delivered with the same bytes: read again, replaced whole, nothing doubled
    redeliver(path)
    load(tmp_path, name, root)
    again = load_ids(tmp_path, name)
    assert again.keys() == first.keys() and not set().union(*again.values()) & set().union(
        *first.values()
    )
    assert rows(tmp_path, name) == before


def test_a_partition_held_by_two_files_is_reloaded_from_both(tmp_path):
    name, root = "gcp_billing", tmp_path / "in"
    root.mkdir()
    a, b, c = root / "a.jsonl", root / "b.jsonl", root / "c.jsonl"

    def lines(*items: tuple[str, str, str]) -> str:
        return "".join(
            gcp_line(cost, month, billing_account_id=account) + "\n"
            for cost, month, account in items
        )

    a.write_text(lines(("1", "202606", "01AB"), ("2", "202606", "01AB"), ("4", "202607", "01AB")))
    b.write_text(lines(("8", "202607", "01AB"), ("16", "202606", "02CD")))
    c.write_text(lines(("32", "202608", "01AB")))
    # June only: July's and August's rows are not loaded
    load(tmp_path, name, root, (JUNE, JULY))
    june = load_ids(tmp_path, name)
    assert set(june) == {"01AB/202606", "02CD/202606"}
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, JULY))

    # the window reaches July: no file changed, July is loaded from both files, June is not
    # touched
    load(tmp_path, name, root, (JUNE, AUG))
    ids = load_ids(tmp_path, name)
    assert {p: ids[p] for p in june} == june and "01AB/202607" in ids
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, AUG))

    # b restated: its partitions (01AB July, 02CD June) reload, July from a as well; a's June
    # keeps its load id
    redeliver(b, lines(("9", "202607", "01AB"), ("17", "202606", "02CD")))
    load(tmp_path, name, root, (JUNE, AUG))
    after = load_ids(tmp_path, name)
    assert after["01AB/202606"] == ids["01AB/202606"]
    assert (
        after["01AB/202607"] != ids["01AB/202607"] and after["02CD/202606"] != june["02CD/202606"]
    )
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, AUG))
    assert q(
        tmp_path,
        f"select _partition, sum(cost) from raw_{name}.billing_export group by 1 order by 1",
    ) == [("01AB/202606", 3), ("01AB/202607", 13), ("02CD/202606", 17)]

    # b removed: July is reloaded from a alone; 02CD's June, delivered by no file now, keeps
    # its rows (the file control totals report them, orchestration/file_totals.py)
    b.unlink()
    load(tmp_path, name, root, (JUNE, AUG))
    assert q(
        tmp_path,
        f"select _partition, sum(cost) from raw_{name}.billing_export group by 1 order by 1",
    ) == [("01AB/202606", 3), ("01AB/202607", 4), ("02CD/202606", 17)]
    settled = load_ids(tmp_path, name)
    assert settled["01AB/202606"] == ids["01AB/202606"]

    # nothing changed: nothing is read
    load(tmp_path, name, root, (JUNE, AUG))
    assert load_ids(tmp_path, name) == settled


def test_a_cur_period_outside_the_window_is_not_read_until_the_window_reaches_it(tmp_path):
    name, root = "aws_cur", tmp_path / "in"
    june = cur_file(root, {})
    july = root / "data" / "BILLING_PERIOD=2026-07" / "cur-00001.csv"
    header = ["identity_line_item_id", "line_item_usage_start_date", "line_item_unblended_cost"]
    write_csv(july, header, [["b1", "2026-07-01T00:00:00Z", "x"]])  # July's file is bad
    load(tmp_path, name, root, (JUNE, JULY))  # not read: its bad row is not quarantined
    assert set(load_ids(tmp_path, name)) == {"cur/2026-06"} and quarantined(tmp_path, name) == []
    write_csv(july, header, [["b1", "2026-07-01T00:00:00Z", "7"]])
    load(tmp_path, name, root, (JUNE, AUG))
    ids = load_ids(tmp_path, name)
    assert set(ids) == {"cur/2026-06", "cur/2026-07"}
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, AUG))
    # June restated: July keeps its load id
    redeliver(june)
    load(tmp_path, name, root, (JUNE, AUG))
    after = load_ids(tmp_path, name)
    assert after["cur/2026-07"] == ids["cur/2026-07"] and after["cur/2026-06"] != ids["cur/2026-06"]
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, AUG))


def test_rows_of_an_unknown_month_are_kept_per_file_and_cleared_once_fixed(tmp_path):
    name, root = "gcp_billing", tmp_path / "in"
    root.mkdir()
    a, b = root / "a.jsonl", root / "b.jsonl"
    a.write_text(gcp_line("1") + "\n" + gcp_line("2", month="June") + "\n")
    b.write_text(gcp_line("4") + "\n")
    load(tmp_path, name, root)
    assert [(Path(r[1]).name, r[6]) for r in quarantined(tmp_path, name)] == [("a.jsonl", "?")]
    # b gains a row of no readable month: a's is kept (a is read again for it), b's joins it
    redeliver(b, gcp_line("4") + "\n" + gcp_line("8", month="") + "\n")
    load(tmp_path, name, root)
    assert [(Path(r[1]).name, r[6]) for r in quarantined(tmp_path, name)] == [
        ("a.jsonl", "?"),
        ("b.jsonl", "?"),
    ]
    # a fixed: its row leaves the quarantine and joins the data, b's stays
    redeliver(a, gcp_line("1") + "\n" + gcp_line("2") + "\n")
    load(tmp_path, name, root)
    assert [(Path(r[1]).name, r[6]) for r in quarantined(tmp_path, name)] == [("b.jsonl", "?")]
    assert rows(tmp_path, name) == fresh(tmp_path, name, root, (JUNE, AUG))
    assert q(tmp_path, f"select sum(cost) from raw_{name}.billing_export") == [(7,)]


def test_a_file_rewritten_while_it_is_read_is_read_again_next_run(tmp_path, monkeypatch):
    name, root = "gcp_billing", tmp_path / "in"
    root.mkdir()
    path = root / "a.jsonl"
    path.write_text(gcp_line("1") + "\n")
    read = gcp.billing_items

    def rewritten_during_the_read(p: Path) -> Any:
        yield from read(p)
        redeliver(p, gcp_line("1") + "\n" + gcp_line("2") + "\n")  # the provider's next copy

    monkeypatch.setattr(gcp, "billing_items", rewritten_during_the_read)
    load(tmp_path, name, root)
    assert q(tmp_path, f"select sum(cost) from raw_{name}.billing_export") == [(1,)]
    monkeypatch.setattr(gcp, "billing_items", read)
    load(tmp_path, name, root)
    assert q(tmp_path, f"select sum(cost) from raw_{name}.billing_export") == [(3,)]
