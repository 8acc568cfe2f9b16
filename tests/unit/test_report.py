"""The daily HTML report: every section renders from a small synthetic warehouse, all text is
escaped, nothing outside the file is referenced, output is replaced atomically, and a missing or
broken table costs one section a "not available" note, never the report."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from reports import daily
from reports.daily import render_daily_report
from reports.sample import (
    ANALYTICS,
    HOSTILE_FEATURE,
    HOSTILE_MODEL,
    HOSTILE_TEAM,
    build_sample_warehouse,
)

AS_OF = date(2026, 3, 16)  # the report covers spend through Sunday 15 March
ALL_SECTIONS = (
    "headline",
    "forecast",
    "providers",
    "teams",
    "movers",
    "anomalies",
    "unit-economics",
    "savings",
)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <style> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def _parse(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    return parser


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture
def full(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> tuple[daily.ReportResult, str]:
    build_sample_warehouse(con, AS_OF, hostile=True)
    result = render_daily_report(con, AS_OF, tmp_path / "out", dagster_url="http://dagster:3000")
    return result, result.path.read_text(encoding="utf-8")


def test_every_section_renders_from_a_complete_warehouse(
    full: tuple[daily.ReportResult, str],
) -> None:
    result, document = full
    assert result.sections == ALL_SECTIONS
    assert result.warnings == ()
    assert result.path.name == "aispend-report-2026-03-16.html"
    assert result.bytes == len(result.path.read_bytes())
    for section_id in ALL_SECTIONS[1:]:
        assert f'id="{section_id}"' in document
    for heading in (
        "Month-end forecast against budget",
        "Spend by provider",
        "Spend by team",
        "Top movers",
        "Anomalies and their drivers",
        "Unit economics",
        "Savings",
    ):
        assert f"<h2>{heading}</h2>" in document
    assert "not available" not in document
    assert "AI spend through Sunday 15 Mar 2026" in document
    # charts are inline SVG: matplotlib's (in <figure class="chart">) and hand-drawn ones
    assert document.count('<figure class="chart"><svg') >= 5
    assert document.count('class="bullet"') == 3
    assert document.count('class="sparkline"') == 15  # 3 providers, 4 teams, 3 features, 5 models
    assert "<footer>Generated " in document
    # anomaly drivers: the largest component, then the most telling dimensions
    assert "volume (requests) +$1,343" in document
    assert '<span class="muted">model</span> claude-sonnet-4-5 +$1,151' in document
    assert "price / model mix +$576" in document  # a second component carrying ≥ 25%
    assert "team</span> support" not in document  # beyond the three lines


def test_headline_numbers_match_the_warehouse(
    full: tuple[daily.ReportResult, str], con: duckdb.DuckDBPyConnection
) -> None:
    _, document = full
    row = con.execute(
        "select sum(billed_cost_reporting) from marts.fct_ai_spend "
        "where usage_date >= date '2026-03-01' and usage_date < date '2026-03-16'"
    ).fetchone()
    assert row is not None
    mtd = daily._money(row[0], "USD")
    assert f'<div class="value">{mtd}</div>' in document
    assert "2 of 3" in document  # the org is forecast over budget, one team is over already
    assert "critical" in document  # the open anthropic spike
    assert "80% range" in document


def test_all_text_is_escaped(full: tuple[daily.ReportResult, str]) -> None:
    _, document = full
    for hostile in (HOSTILE_TEAM, HOSTILE_FEATURE, HOSTILE_MODEL):
        assert hostile not in document
    parsed = _parse(document)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "img", "iframe", "object", "embed"}
    handlers = [(tag, k) for tag, attrs in parsed.tags for k in attrs if k.startswith("on")]
    assert handlers == []
    # the names are still there, as text a reader sees
    text = "".join(parsed.text)
    assert HOSTILE_TEAM in text
    assert "R&D <script>" in text
    assert 'gpt-"quoted"-<b>bold</b>' in text


def test_nothing_outside_the_file_is_referenced(full: tuple[daily.ReportResult, str]) -> None:
    _, document = full
    parsed = _parse(document)
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "xlink:href", "srcset", "data", "poster", "action"):
            value = attrs.get(name)
            if value is None:
                continue
            if tag == "a" and name == "href":
                continue  # a link a reader may click (Dagster), not a resource
            assert value.startswith(("#", "data:")), f"<{tag} {name}={value!r}>"
        if tag == "link":
            assert attrs.get("rel") != "stylesheet"
        if tag == "a" and attrs.get("href", "").startswith("http"):
            assert attrs["href"] == "http://dagster:3000"
    css = "\n".join(parsed.styles)
    assert "@import" not in css
    assert re.findall(r"url\(\s*[^#\s)]", css) == []
    assert re.findall(r"url\(\s*['\"]?\s*[^#'\"\s)]", document) == []
    # with the namespace declarations and the clickable link taken out, no URL is left at all
    rest = re.sub(r'xmlns(:\w+)?="[^"]*"', "", document).replace('href="http://dagster:3000"', "")
    assert "http://" not in rest and "https://" not in rest
    assert "Content-Security-Policy" in document and "default-src 'none'" in document


def test_inline_svgs_do_not_clash(full: tuple[daily.ReportResult, str]) -> None:
    """Several matplotlib SVGs share one document: their ids must be unique and every
    internal reference (clip paths, markers, section links) must resolve."""
    _, document = full
    parsed = _parse(document)
    ids = [attrs["id"] for _, attrs in parsed.tags if "id" in attrs]
    assert len(ids) == len(set(ids))
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', document)
    assert refs and set(refs) <= set(ids)


def test_a_missing_analytics_table_gives_a_note(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    without = [t for t in ANALYTICS if t not in ("anomalies", "anomaly_drivers")]
    build_sample_warehouse(con, AS_OF, analytics=without)
    result = render_daily_report(con, AS_OF, tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert "Anomalies not available: analytics.anomalies does not exist" in document
    assert "Anomalies not available" in document  # the headline card too
    assert "anomalies" not in result.sections
    assert set(result.sections) == set(ALL_SECTIONS) - {"anomalies"}
    assert any("analytics.anomalies" in w for w in result.warnings)
    assert "not yet built: analytics.anomalies, analytics.anomaly_drivers" in document


def test_only_marts_still_render_spend_sections(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    build_sample_warehouse(con, AS_OF, analytics=())
    result = render_daily_report(con, AS_OF, tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert result.sections == ("headline", "providers", "teams", "movers", "savings")
    for what in ("Month-end forecast", "Budgets", "Anomalies", "Unit economics"):
        assert f"{what} not available" in document


def test_missing_drivers_leave_the_anomaly_table(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    build_sample_warehouse(con, AS_OF, analytics=[t for t in ANALYTICS if t != "anomaly_drivers"])
    result = render_daily_report(con, AS_OF, tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert "anomalies" in result.sections
    assert "Anomaly drivers not available" in document
    assert 'class="anomalies"' in document


def test_an_empty_warehouse_renders_notes_only(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = render_daily_report(con, AS_OF, tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert result.sections == ()
    assert document.count("not available") >= 7
    assert "<footer>" in document and "no spend data" in document


def test_a_broken_table_costs_one_section(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    build_sample_warehouse(con, AS_OF)
    con.execute(
        "create or replace table analytics.anomalies as select 'org' as series_id, "
        "'not a date' as day, 'x' as impact_usd"
    )
    result = render_daily_report(con, AS_OF, tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert "anomalies" not in result.sections
    assert {"forecast", "providers", "savings"} <= set(result.sections)
    assert any(w.startswith("section anomalies failed") for w in result.warnings)
    assert "This section is not available" in document


def test_output_is_replaced_atomically(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_sample_warehouse(con, AS_OF)
    first = render_daily_report(con, AS_OF, tmp_path)
    assert first.latest.read_bytes() == first.path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name, "latest.html"]
    assert os.stat(first.latest).st_mode & 0o777 == 0o644
    before = first.latest.read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(daily.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        render_daily_report(con, date(2026, 3, 17), tmp_path)
    assert first.latest.read_bytes() == before  # readers still see the whole old report
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name, "latest.html"]


def test_on_the_first_the_month_is_final(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    build_sample_warehouse(con, date(2026, 4, 1))
    result = render_daily_report(con, date(2026, 4, 1), tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert "forecast" in result.sections
    assert "March total" in document and "March is complete" in document
    assert "March projected" not in document


def test_dagster_link_must_be_http(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    build_sample_warehouse(con, AS_OF, analytics=())
    result = render_daily_report(con, AS_OF, tmp_path, dagster_url="javascript:alert(1)")
    assert "javascript:" not in result.path.read_text(encoding="utf-8")
    assert any("dagster_url" in w for w in result.warnings)


def test_stale_data_is_called_out(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    build_sample_warehouse(con, AS_OF, analytics=())
    result = render_daily_report(con, date(2026, 3, 20), tmp_path)
    document = result.path.read_text(encoding="utf-8")
    assert "The latest spend in the warehouse is from 15 Mar 2026, 4 days before" in document


@pytest.mark.parametrize(
    ("value", "currency", "signed", "expected"),
    [
        (1234.4, "USD", False, "$1,234"),
        (12.5, "USD", False, "$12.50"),
        (-1234.0, "USD", False, "\u2212$1,234"),
        (56.0, "USD", True, "+$56.00"),
        (0.001, "USD", True, "$0.00"),
        (9000.0, "EUR", False, "\u20ac9,000"),
        (1234.0, "CHF", False, "1,234 CHF"),
        (None, "USD", False, "\u2014"),
        (float("nan"), "USD", False, "\u2014"),
    ],
)
def test_money(value: float | None, currency: str, signed: bool, expected: str) -> None:
    assert daily._money(value, currency, signed=signed) == expected


@pytest.mark.parametrize(
    ("value", "signed", "expected"),
    [(0.123, True, "+12%"), (-0.034, True, "\u22123.4%"), (0.0, True, "0%"), (0.5, False, "50%")],
)
def test_pct(value: float, signed: bool, expected: str) -> None:
    assert daily._pct(value, signed) == expected


def test_compact_and_unit_money() -> None:
    assert daily._compact(1234, "USD") == "$1.2k"
    assert daily._compact(45_000, "USD") == "$45k"
    assert daily._compact(2_500_000, "USD") == "$2.5M"
    assert daily._unit_money(0.012345, "USD") == "$0.0123"
    assert daily._unit_money(1.5, "USD") == "$1.50"
