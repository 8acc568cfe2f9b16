"""The daily AI spend report: one self-contained HTML file a finance lead can open anywhere.

Everything it needs is inside the file: CSS is inline, charts are inline SVG (matplotlib, or
drawn by hand for the small ones), and a Content-Security-Policy forbids loading anything
else, so it renders offline, in a mail attachment or from an artifact store, and the browser
itself would refuse a stray external reference.

It reads `marts.*` and whatever `analytics.*` tables exist: each section that lacks its table
(or a column it needs) says "not available" and the rest still render. `as_of` follows the
pipeline's convention (`Settings.end_date`): it is exclusive, so the report dated 29 Nov covers
spend up to and including 28 Nov, and "this month" is the month of `as_of - 1 day`.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

log = logging.getLogger(__name__)

HISTORY_DAYS = 90  # spend-over-time and unit-economics charts
MOVER_DAYS = 7  # top movers: the last 7 days against the 7 before
ANOMALY_DAYS = 30  # anomaly alerts listed
OPEN_ANOMALY_DAYS = 7  # an episode with a day in this window counts as open
SAVINGS_MONTHS = 6
MAX_STACKED = 7  # groups drawn in a stacked chart before the rest become "Other"

MINUS = "\u2212"  # typographic minus: lines up with "+" in tabular figures
DASH = "\u2014"
EN_DASH = "\u2013"
_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5", "CAD": "CA$"}

INK = "#1b2230"
MUTED = "#5d6675"
GRID = "#e8ebf0"
ACCENT = "#2f5d9e"
FORECAST = "#d9822b"
BAD = "#b42318"
GOOD = "#067647"
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)
NEUTRAL = "#bab0ac"
_NEUTRAL_NAMES = {"other", "unallocated", "(unknown)", "~"}

#: status → (label, text colour, badge background, bar colour)
STATUS = {
    "over_budget": ("Over budget", "#b42318", "#fde8e6", "#d92d20"),
    "forecast_over_budget": ("At risk", "#b54708", "#fdf0e1", "#e8772e"),
    "threshold_crossed": ("Watch", "#7a5c00", "#fbf1cf", "#dcae2a"),
    "ok": ("On track", "#067647", "#e3f4ea", "#3f9a5f"),
}
SEVERITY = {
    "critical": ("#ffffff", "#b42318"),
    "high": ("#b42318", "#fde8e6"),
    "medium": ("#b54708", "#fdf0e1"),
    "low": ("#475467", "#eef0f4"),
}
AT_RISK = ("over_budget", "forecast_over_budget")
SCOPE_LABELS = {
    "org": "Organisation",
    "provider": "Provider",
    "project": "Project",
    "team": "Team",
    "feature": "Feature",
    "customer": "Customer",
    "model": "Model",
}

SPEND = "marts.fct_ai_spend"
ALLOCATED = "marts.fct_ai_spend_allocated"
SAVINGS = "marts.fct_ai_savings"
FORECAST_DAILY = "analytics.forecast_daily"
FORECAST_MONTH_END = "analytics.forecast_month_end"
BUDGET_STATUS = "analytics.budget_status"
ANOMALIES = "analytics.anomalies"
ANOMALY_DRIVERS = "analytics.anomaly_drivers"
UNIT_DAILY = "analytics.unit_economics_daily"
UNIT_MONTHLY = "analytics.unit_economics_monthly"
BACKTEST = "analytics.forecast_backtest"
DETECTION = "analytics.detection_quality"
ANALYTICS_TABLES = (
    FORECAST_DAILY,
    FORECAST_MONTH_END,
    BUDGET_STATUS,
    ANOMALIES,
    ANOMALY_DRIVERS,
    UNIT_DAILY,
    UNIT_MONTHLY,
    BACKTEST,
    DETECTION,
)


@dataclass(frozen=True)
class ReportResult:
    """What was written: the dated file, its `latest.html` twin, size, and what rendered."""

    path: Path
    latest: Path
    bytes: int
    sections: tuple[str, ...]  # ids of sections rendered with data
    warnings: tuple[str, ...]  # tables/columns missing, sections that failed


@dataclass
class _Section:
    id: str
    title: str
    body: str
    caption: str = ""
    ok: bool = True


@dataclass
class _Ctx:
    """The connection, the report's dates and what the warehouse holds, shared by sections."""

    con: duckdb.DuckDBPyConnection
    as_of: date
    columns: dict[str, set[str]]
    currency: str = "USD"
    warnings: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def last_day(self) -> date:
        return self.as_of - timedelta(days=1)

    @property
    def month_start(self) -> date:
        return self.last_day.replace(day=1)

    @property
    def next_month_start(self) -> date:
        return _add_months(self.month_start, 1)

    @property
    def prev_month_start(self) -> date:
        return _add_months(self.month_start, -1)

    @property
    def month_complete(self) -> bool:
        """On the 1st the report covers a whole month: its numbers are final, not projected."""
        return self.as_of == self.next_month_start

    @property
    def window_start(self) -> date:
        return self.as_of - timedelta(days=HISTORY_DAYS)

    def has(self, table: str, *columns: str) -> bool:
        return table in self.columns and set(columns) <= self.columns[table]

    def df(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value two sections share (the headline repeats other sections' numbers)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


# --------------------------------------------------------------------------------------------
# entry point


def render_daily_report(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    out_dir: Path,
    dagster_url: str | None = None,
) -> ReportResult:
    """Render the report for `as_of` (exclusive: data through the day before) into `out_dir`
    as `aispend-report-<as_of>.html` and `latest.html`, each replaced atomically so a reader
    or a web server never sees half a file. A missing table degrades its section to a note."""
    ctx = _Ctx(con=con, as_of=as_of, columns=_catalog(con))
    ctx.currency = _reporting_currency(ctx)
    builders: list[tuple[str, Callable[[_Ctx], _Section]]] = [
        ("headline", _headline),
        ("forecast", _forecast_section),
        ("providers", _provider_section),
        ("teams", _team_section),
        ("movers", _movers_section),
        ("anomalies", _anomaly_section),
        ("unit-economics", _unit_economics_section),
        ("savings", _savings_section),
    ]
    sections = [_safe(section_id, builder, ctx) for section_id, builder in builders]
    document = _page(ctx, sections, dagster_url)
    data = document.encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"aispend-report-{as_of.isoformat()}.html"
    latest = out_dir / "latest.html"
    _write_atomic(path, data)
    _write_atomic(latest, data)
    return ReportResult(
        path=path,
        latest=latest,
        bytes=len(data),
        sections=tuple(s.id for s in sections if s.ok),
        warnings=tuple(ctx.warnings),
    )


def _safe(section_id: str, builder: Callable[[_Ctx], _Section], ctx: _Ctx) -> _Section:
    """One broken table (an unexpected type, a half-migrated schema) must cost one section,
    not the whole report: log it, say so in the section and in the warnings."""
    try:
        return builder(ctx)
    except Exception as exc:
        log.exception("report section %s failed", section_id)
        ctx.warn(f"section {section_id} failed: {type(exc).__name__}: {exc}")
        return _Section(
            section_id,
            section_id.replace("-", " ").capitalize(),
            _note(f"This section is not available: {type(exc).__name__}: {exc}"),
            ok=False,
        )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` (atomic on POSIX)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a web server must be able to read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _catalog(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema in ('marts', 'analytics')"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for schema, table, column in rows:
        out.setdefault(f"{schema}.{table}", set()).add(str(column).lower())
    return out


def _reporting_currency(ctx: _Ctx) -> str:
    if not ctx.has(SPEND, "reporting_currency"):
        return "USD"
    try:
        row = ctx.con.execute(
            f"select reporting_currency, count(*) from {SPEND} "
            "where reporting_currency is not null group by 1 order by 2 desc limit 1"
        ).fetchone()
    except duckdb.Error as exc:  # the spend sections will say what is wrong
        ctx.warn(f"reporting currency unknown ({exc}); assuming USD")
        return "USD"
    return str(row[0]).upper() if row else "USD"


# --------------------------------------------------------------------------------------------
# formatting: every number a person reads goes through these, every string through _e


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _f(value: object) -> float | None:
    return float(value) if _finite(value) else None  # type: ignore[arg-type]


def _money(value: object, currency: str, signed: bool = False) -> str:
    """$1,234 (whole units from 100 up, cents below); −$12.50; 1,234 CHF without a symbol."""
    x = _f(value)
    if x is None:
        return DASH
    body = f"{abs(x):,.0f}" if abs(x) >= 100 else f"{abs(x):,.2f}"
    symbol = _SYMBOLS.get(currency)
    text = f"{symbol}{body}" if symbol else f"{body} {currency}"
    if body.strip("0.,") == "":
        return text
    if x < 0:
        return MINUS + text
    return "+" + text if signed else text


def _compact(value: float, currency: str) -> str:
    """$1.2k, $45k, $1.2M: for axes and tight places."""
    a = abs(value)
    if a >= 1e6:
        body = f"{a / 1e6:.1f}M"
    elif a >= 1e4:
        body = f"{a / 1e3:.0f}k"
    elif a >= 1e3:
        body = f"{a / 1e3:.1f}k"
    else:
        body = f"{a:.0f}"
    symbol = _SYMBOLS.get(currency)
    text = f"{symbol}{body}" if symbol else f"{body} {currency}"
    return (MINUS + text) if value < 0 and body != "0" else text


def _range(lo: float, hi: float, currency: str) -> str:
    """$41k–$44k, or $41,834–$42,132 when the compact form would hide the width."""
    a, b = _compact(lo, currency), _compact(hi, currency)
    if a == b:
        a, b = _money(lo, currency), _money(hi, currency)
    return f"{a}{EN_DASH}{b}"


def _unit_money(value: object, currency: str) -> str:
    """Unit costs are small: three significant digits ($0.0123, $1.24)."""
    x = _f(value)
    if x is None:
        return DASH
    symbol = _SYMBOLS.get(currency)
    if x == 0:
        body = "0"
    elif abs(x) >= 100:
        body = f"{abs(x):,.0f}"
    else:
        digits = max(2, 2 - math.floor(math.log10(abs(x))))
        body = f"{abs(x):.{digits}f}"
    text = f"{symbol}{body}" if symbol else f"{body} {currency}"
    return (MINUS + text) if x < 0 else text


def _pct(value: object, signed: bool = True) -> str:
    """A fraction as a percent: +12%, −3.4%, 0%."""
    x = _f(value)
    if x is None:
        return DASH
    p = 100 * x
    body = f"{abs(p):,.0f}" if abs(p) >= 10 or round(abs(p), 1) == 0 else f"{abs(p):.1f}"
    if body in ("0", "0.0"):
        return "0%"
    sign = MINUS if p < 0 else ("+" if signed else "")
    return f"{sign}{body}%"


def _number(value: object) -> str:
    x = _f(value)
    if x is None:
        return DASH
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _short_day(d: date) -> str:
    return f"{d.day} {d:%b}"


def _span(start: date, end_inclusive: date) -> str:
    if start.year != end_inclusive.year:
        return f"{_day(start)} {EN_DASH} {_day(end_inclusive)}"
    if start.month != end_inclusive.month:
        return f"{_short_day(start)} {EN_DASH} {_day(end_inclusive)}"
    return f"{start.day}{EN_DASH}{_day(end_inclusive)}"


def _direction_class(delta: float | None) -> str:
    """Spend going up is what a cost owner needs to look at: red; going down: green."""
    if delta is None or abs(delta) < 0.005:
        return ""
    return "up" if delta > 0 else "down"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _as_date(value: object) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return pd.Timestamp(value).date()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _with_dates(frame: pd.DataFrame, column: str = "day") -> pd.DataFrame:
    """DuckDB hands DATE columns to pandas as datetime64: make them plain dates again."""
    if column in frame.columns:
        frame[column] = [_as_date(v) for v in frame[column]]
    return frame


def _series_label(series_id: str) -> tuple[str, str]:
    """('Provider', 'openai') for 'provider:openai'; ('Organisation', 'all') for 'org'."""
    if series_id == "org":
        return "Organisation", "all spend"
    scope, _, value = series_id.partition(":")
    return SCOPE_LABELS.get(scope, scope.capitalize()), value or scope


def _tagged(tag: str, value: str) -> str:
    return f'<span class="tag">{_e(tag)}</span>{_e(value)}'


def _unavailable(ctx: _Ctx, what: str, table: str, columns: Sequence[str] = ()) -> str:
    """The standard note for a section (or part) whose table has not been built yet."""
    if table not in ctx.columns:
        reason = f"{table} does not exist in the warehouse yet"
    else:
        missing = sorted(set(columns) - ctx.columns[table])
        reason = f"{table} has no column {', '.join(missing)}"
    ctx.warn(f"{what}: {reason}")
    return _note(f"{what} not available: {reason}.")


def _colour_map(names: Sequence[str]) -> dict[str, str]:
    """Colours by rank (largest first), grey for Other/unallocated, stable within a report."""
    out: dict[str, str] = {}
    i = 0
    for name in names:
        if name.lower() in _NEUTRAL_NAMES:
            out[name] = NEUTRAL
        else:
            out[name] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


# --------------------------------------------------------------------------------------------
# charts: matplotlib → inline SVG (no pyplot, no global figure state)


_RC = {
    "svg.fonttype": "none",  # real <text>: small, selectable, uses the page's font
    "svg.hashsalt": "aispend-report",  # deterministic ids
    "text.parse_math": False,  # "$" in a team or model name is a dollar, not TeX
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#c9ced6",
    "axes.labelcolor": MUTED,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.major.size": 3,
    "ytick.major.size": 0,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "figure.facecolor": "white",
}
_ID = re.compile(r'\bid="([^"]+)"')


@contextmanager
def _chart_style() -> Iterator[None]:
    with matplotlib.rc_context(_RC):
        yield


def _svg(fig: Figure, label: str) -> str:
    """The figure as an inline <svg>: XML prolog, DOCTYPE and metadata dropped, ids made
    unique across the page, fixed size removed so CSS scales it to the column."""
    buffer = io.StringIO()
    with _chart_style():
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    prefix = "c" + hashlib.sha1(f"{label}{text}".encode()).hexdigest()[:8] + "-"
    ids = set(_ID.findall(text))
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(
        r'(href="#|url\(#)([^")]+)',
        lambda m: m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2)),
        text,
    )
    text = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    text = text.replace("<svg", f'<svg role="img" aria-label="{_e(label)}"', 1)
    return f'<figure class="chart">{text}</figure>'


def _money_axis(ax: Axes, currency: str) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _compact(v, currency)))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))


def _stacked_chart(wide: pd.DataFrame, colours: dict[str, str], currency: str, label: str) -> str:
    """Daily stacked bars, one colour per group; the legend carries each group's total."""
    with _chart_style():
        fig = Figure(figsize=(10.4, 3.3))
        ax = fig.add_subplot()
        x = pd.to_datetime(wide.index)
        bottom = np.zeros(len(wide))
        total = float(wide.to_numpy().sum()) or 1.0
        for name in wide.columns:
            values = wide[name].to_numpy(dtype=float)
            share = values.sum() / total
            ax.bar(
                x,
                values,
                bottom=bottom,
                width=0.82,
                color=colours[name],
                linewidth=0,
                label=f"{name}  {_compact(values.sum(), currency)} · {_pct(share, False)}",
            )
            bottom += values
        _money_axis(ax, currency)
        _date_axis(ax)
        ax.set_xlim(x.min() - pd.Timedelta(days=1), x.max() + pd.Timedelta(days=1))
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(
            handles[::-1],
            labels[::-1],
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            handlelength=1.0,
            handleheight=1.0,
        )
        return _svg(fig, label)


# --------------------------------------------------------------------------------------------
# shared numbers


def _org_daily(ctx: _Ctx, start: date, end: date) -> pd.Series:
    """Org spend per day over [start, end), zero-filled."""
    frame = ctx.df(
        f"select usage_date as day, cast(sum(billed_cost_reporting) as double) as cost "
        f"from {SPEND} where usage_date >= ? and usage_date < ? group by 1",
        [start, end],
    )
    days = pd.date_range(start, end, inclusive="left")
    if frame.empty:
        return pd.Series(0.0, index=days)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.set_index("day")["cost"].reindex(days, fill_value=0.0).astype(float)


def _spend_summary(ctx: _Ctx) -> dict[str, Any] | None:
    def compute() -> dict[str, Any] | None:
        if not ctx.has(SPEND, "usage_date", "billed_cost_reporting"):
            return None
        elapsed = (ctx.as_of - ctx.month_start).days
        prev_len = (ctx.month_start - ctx.prev_month_start).days
        same_end = ctx.prev_month_start + timedelta(days=min(elapsed, prev_len))
        week_ago = ctx.last_day - timedelta(days=7)
        row = ctx.con.execute(
            f"""
            select
                sum(c) filter (where usage_date >= $ms and usage_date < $as_of),
                sum(c) filter (where usage_date >= $pms and usage_date < $same_end),
                sum(c) filter (where usage_date >= $pms and usage_date < $ms),
                sum(c) filter (where usage_date = $last),
                sum(c) filter (where usage_date = $week_ago),
                count(*) filter (where usage_date >= $pms and usage_date < $same_end)
            from (
                select usage_date, cast(billed_cost_reporting as double) as c from {SPEND}
                where usage_date >= $pms and usage_date < $as_of
            )
            """,
            {
                "ms": ctx.month_start,
                "as_of": ctx.as_of,
                "pms": ctx.prev_month_start,
                "same_end": same_end,
                "last": ctx.last_day,
                "week_ago": week_ago,
            },
        ).fetchone()
        bounds = ctx.con.execute(f"select min(usage_date), max(usage_date) from {SPEND}").fetchone()
        mtd, prev_same, prev_full, last, week_before, prev_rows = row or (None,) * 6
        return {
            "mtd": mtd or 0.0,
            "prev_same": prev_same if prev_rows else None,
            "prev_full": prev_full if prev_rows else None,
            "same_end": same_end - timedelta(days=1),
            "last": last or 0.0,
            "week_before": week_before,
            "first_data": bounds[0] if bounds else None,
            "last_data": bounds[1] if bounds else None,
        }

    return ctx.once("spend", compute)


def _org_projection(ctx: _Ctx) -> dict[str, Any] | None:
    def compute() -> dict[str, Any] | None:
        need = ("series_id", "month", "projected")
        if ctx.month_complete or not ctx.has(FORECAST_MONTH_END, *need):
            return None
        frame = ctx.df(
            f"select * from {FORECAST_MONTH_END} "
            "where series_id = 'org' and cast(month as date) = ?",
            [ctx.month_start],
        )
        if frame.empty:
            ctx.warn(f"{FORECAST_MONTH_END} has no org row for {ctx.month_start:%Y-%m}")
            return None
        row = frame.iloc[0]
        return {
            "projected": _f(row["projected"]),
            "lower_80": _f(row.get("projected_lower_80")),
            "upper_80": _f(row.get("projected_upper_80")),
            "actual_mtd": _f(row.get("actual_mtd")),
            "method": row.get("method"),
        }

    return ctx.once("projection", compute)


def _current_budgets(ctx: _Ctx) -> pd.DataFrame | None:
    def compute() -> pd.DataFrame | None:
        need = ("budget_id", "status", "actual_mtd", "budget_amount_reporting")
        if not ctx.has(BUDGET_STATUS, *need):
            return None
        if ctx.has(BUDGET_STATUS, "month"):
            frame = ctx.df(
                f"select * from {BUDGET_STATUS} where cast(month as date) = ?", [ctx.month_start]
            )
        elif ctx.has(BUDGET_STATUS, "is_current_month"):
            frame = ctx.df(f"select * from {BUDGET_STATUS} where is_current_month")
        else:
            frame = ctx.df(f"select * from {BUDGET_STATUS}")
        return frame

    return ctx.once("budgets", compute)


def _open_anomalies(ctx: _Ctx) -> pd.DataFrame | None:
    """Anomalous days in the last week, one row per episode (its largest day)."""

    def compute() -> pd.DataFrame | None:
        if not ctx.has(ANOMALIES, "series_id", "day", "impact_usd"):
            return None
        frame = ctx.df(
            f"select * exclude (day), cast(day as date) as day from {ANOMALIES} "
            "where cast(day as date) >= ? and cast(day as date) < ?",
            [ctx.as_of - timedelta(days=OPEN_ANOMALY_DAYS), ctx.as_of],
        )
        frame = _with_dates(frame)
        if "is_anomaly" in frame.columns:
            frame = frame[frame["is_anomaly"].fillna(False).astype(bool)]
        key = "episode_id" if "episode_id" in frame.columns else "series_id"
        frame = frame.assign(_abs=frame["impact_usd"].abs())
        frame = frame.sort_values("_abs", ascending=False).drop_duplicates(key)
        return frame.drop(columns="_abs")

    return ctx.once("open_anomalies", compute)


# --------------------------------------------------------------------------------------------
# sections


def _headline(ctx: _Ctx) -> _Section:
    spend = _spend_summary(ctx)
    if spend is None:
        return _Section(
            "headline",
            "At a glance",
            _unavailable(ctx, "Spend", SPEND, ("usage_date", "billed_cost_reporting")),
            ok=False,
        )
    cur = ctx.currency
    month = f"{ctx.month_start:%B}"
    prev_month = f"{ctx.prev_month_start:%B}"
    cards: list[str] = []
    sentences: list[str] = []

    mtd, prev_same = spend["mtd"], spend["prev_same"]
    change = (mtd - prev_same) / prev_same if prev_same else None
    same_span = _span(ctx.prev_month_start, spend["same_end"])
    if change is not None:
        compare = (
            f'<span class="{_direction_class(change)}">{_e(_pct(change))}</span> vs '
            f"{_e(same_span)} ({_e(_money(prev_same, cur))})"
        )
        sentences.append(
            f"Month-to-date spend is <b>{_e(_money(mtd, cur))}</b>, "
            f'<span class="{_direction_class(change)}">{_e(_pct(change))}</span> against the '
            f"same days of {_e(prev_month)}."
        )
    else:
        compare = f"no spend recorded for {_e(same_span)}"
        sentences.append(f"Month-to-date spend is <b>{_e(_money(mtd, cur))}</b>.")
    week_before = spend["week_before"]
    yesterday = f"{ctx.last_day:%a} {_short_day(ctx.last_day)}: {_e(_money(spend['last'], cur))}"
    last_data = _as_date(spend["last_data"])
    if last_data is None or last_data < ctx.last_day:
        yesterday = f"No spend recorded for {ctx.last_day:%a} {_short_day(ctx.last_day)} yet"
    elif week_before:
        d = (spend["last"] - week_before) / week_before
        yesterday += (
            f', <span class="{_direction_class(d)}">{_e(_pct(d))}</span> on the '
            f"{ctx.last_day:%A} before"
        )
    cards.append(_card(f"Month to date ({month})", _money(mtd, cur), [compare, yesterday]))

    projection = _org_projection(ctx)
    if projection and projection["projected"] is not None:
        lo, hi = projection["lower_80"], projection["upper_80"]
        interval = (
            f"80% range {_e(_range(lo, hi, cur))}"
            if lo is not None and hi is not None
            else "no interval"
        )
        details = [interval]
        if spend["prev_full"]:
            details.append(f"{_e(prev_month)} closed at {_e(_money(spend['prev_full'], cur))}")
        cards.append(_card(f"{month} projected", _money(projection["projected"], cur), details))
        sentences.append(
            f"{_e(month)} is projected to close at "
            f"<b>{_e(_money(projection['projected'], cur))}</b>"
            + (f" (80%: {_e(_range(lo, hi, cur))})." if lo is not None and hi is not None else ".")
        )
    elif ctx.month_complete:
        details = ["final: the month is complete"]
        if spend["prev_full"]:
            details.append(f"{_e(prev_month)} closed at {_e(_money(spend['prev_full'], cur))}")
        cards.append(_card(f"{month} total", _money(mtd, cur), details))
    else:
        cards.append(_card(f"{month} projected", DASH, ["Forecast not available yet"], muted=True))

    budgets = _current_budgets(ctx)
    if budgets is not None and not budgets.empty:
        risky = budgets[budgets["status"].isin(AT_RISK)]
        names = ", ".join(_e(_budget_name(r)) for _, r in risky.iterrows())
        watch = int((budgets["status"] == "threshold_crossed").sum())
        detail = [names or "All budgets on track"]
        if watch:
            detail.append(f"{watch} past an alert threshold")
        cards.append(
            _card(
                "Budgets at risk",
                f"{len(risky)} of {len(budgets)}",
                detail,
                alert=len(risky) > 0,
            )
        )
        sentences.append(
            f"<b>{len(risky)} of {len(budgets)}</b> budgets "
            + ("are" if len(risky) != 1 else "is")
            + " over or forecast over budget."
        )
    else:
        cards.append(_card("Budgets at risk", DASH, ["Budget status not available"], muted=True))

    anomalies = _open_anomalies(ctx)
    if anomalies is not None:
        n = len(anomalies)
        detail = []
        if n:
            top = anomalies.iloc[0]
            sid = str(top["series_id"])
            scope, value = _series_label(sid)
            what = "total spend" if sid == "org" else f"{scope.lower()} {value}"
            detail.append(
                f"Largest: {_e(what)} "
                f"{_e(_money(top['impact_usd'], cur, signed=True))} on "
                f"{_e(_short_day(_as_date(top['day']) or ctx.last_day))}"
            )
            sentences.append(
                f"<b>{n}</b> spend anomal{'y' if n == 1 else 'ies'} in the last "
                f"{OPEN_ANOMALY_DAYS} days."
            )
        else:
            detail.append(f"None in the last {OPEN_ANOMALY_DAYS} days")
        cards.append(_card("Open anomalies", str(n), detail, alert=n > 0))
    else:
        cards.append(_card("Open anomalies", DASH, ["Anomalies not available"], muted=True))

    body = f'<p class="lead">{" ".join(sentences)}</p><div class="kpis">{"".join(cards)}</div>'
    return _Section("headline", "At a glance", body)


def _card(
    label: str, value: str, details: Sequence[str], alert: bool = False, muted: bool = False
) -> str:
    """A headline number; `details` are already-escaped HTML fragments."""
    cls = "kpi" + (" alert" if alert else "") + (" muted" if muted else "")
    lines = "".join(f'<div class="detail">{d}</div>' for d in details)
    return (
        f'<div class="{cls}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div>{lines}</div>'
    )


def _budget_name(row: pd.Series) -> str:
    name = row.get("budget_name")
    return str(name) if name is not None and str(name) else str(row["budget_id"])


def _forecast_section(ctx: _Ctx) -> _Section:
    title = "Month-end forecast against budget"
    if not ctx.has(SPEND, "usage_date", "billed_cost_reporting"):
        return _Section(
            "forecast",
            title,
            _unavailable(ctx, "Spend", SPEND, ("usage_date", "billed_cost_reporting")),
            ok=False,
        )
    projection = _org_projection(ctx)
    budgets = _current_budgets(ctx)
    parts: list[str] = []
    current = _org_daily(ctx, ctx.month_start, ctx.as_of)
    previous = _org_daily(ctx, ctx.prev_month_start, ctx.month_start)
    path = None
    if projection and ctx.has(FORECAST_DAILY, "series_id", "day", "yhat"):
        path = ctx.df(
            f"select cast(day as date) as day, cast(yhat as double) as yhat "
            f"from {FORECAST_DAILY} where series_id = 'org' "
            "and cast(day as date) >= ? and cast(day as date) < ? order by 1",
            [ctx.as_of, ctx.next_month_start],
        )
    org_budget = None
    if budgets is not None and "scope" in budgets.columns:
        org_rows = budgets[budgets["scope"] == "org"]
        if len(org_rows):
            org_budget = _f(org_rows.iloc[0]["budget_amount_reporting"])
    parts.append(_forecast_chart(ctx, current, previous, path, projection, org_budget))
    need = ("series_id", "month", "projected")
    if ctx.month_complete:
        parts.append(_note(f"{ctx.month_start:%B} is complete: these are its final numbers."))
    elif projection is not None:
        parts.append(_trust_line(ctx, projection))
    elif ctx.has(FORECAST_MONTH_END, *need):
        parts.append(
            _note(
                f"Month-end forecast not available: {FORECAST_MONTH_END} has no org row for "
                f"{ctx.month_start:%B %Y}."
            )
        )
    else:
        parts.append(_unavailable(ctx, "Month-end forecast", FORECAST_MONTH_END, need))
    if budgets is None:
        parts.append(
            _unavailable(
                ctx,
                "Budgets",
                BUDGET_STATUS,
                ("budget_id", "status", "actual_mtd", "budget_amount_reporting"),
            )
        )
    elif budgets.empty:
        parts.append(_note(f"No budget covers {ctx.month_start:%B %Y} (config/budgets.csv)."))
    else:
        parts.append(_budget_table(ctx, budgets))
    caption = (
        f"Cumulative org spend in {ctx.month_start:%B}, last month for comparison, and the "
        "forecast to month end with its 80% interval. Below: every budget, month to date and "
        "projected (bar: actual, lighter bar: projected, whisker: 80% range, tick: budget)."
    )
    ok = projection is not None or ctx.month_complete
    return _Section("forecast", title, "".join(parts), caption=caption, ok=ok)


def _forecast_chart(
    ctx: _Ctx,
    current: pd.Series,
    previous: pd.Series,
    path: pd.DataFrame | None,
    projection: dict[str, Any] | None,
    budget: float | None,
) -> str:
    cur = ctx.currency
    n_days = (ctx.next_month_start - ctx.month_start).days
    with _chart_style():
        fig = Figure(figsize=(10.4, 3.0))
        ax = fig.add_subplot()
        if len(previous):
            prev_cum = previous.cumsum()
            ax.plot(
                np.arange(1, len(prev_cum) + 1),
                prev_cum.to_numpy(),
                color="#9aa3b2",
                lw=1.4,
                ls=(0, (3, 2)),
                label=f"{ctx.prev_month_start:%B} actual",
            )
        cum = current.cumsum()
        x_act = np.arange(1, len(cum) + 1)
        ax.plot(x_act, cum.to_numpy(), color=ACCENT, lw=2.2, label=f"{ctx.month_start:%B} actual")
        mtd = float(cum.iloc[-1]) if len(cum) else 0.0
        top = max(mtd, float(previous.sum()) if len(previous) else 0.0)
        if projection and projection["projected"] is not None and len(cum) < n_days:
            projected = float(projection["projected"])
            lo = projection["lower_80"] if projection["lower_80"] is not None else projected
            hi = projection["upper_80"] if projection["upper_80"] is not None else projected
            xs = np.arange(len(cum), n_days + 1)
            weights = np.ones(len(xs) - 1)
            if path is not None and len(path) == len(xs) - 1:
                weights = np.clip(path["yhat"].to_numpy(dtype=float), 0, None)
            frac = np.concatenate([[0.0], np.cumsum(weights)])
            frac = frac / frac[-1] if frac[-1] > 0 else np.linspace(0, 1, len(xs))
            ys = mtd + frac * (projected - mtd)
            ax.fill_between(
                xs,
                mtd + frac * (lo - mtd),
                mtd + frac * (hi - mtd),
                color=FORECAST,
                alpha=0.18,
                lw=0,
                label="80% interval",
            )
            ax.plot(xs, ys, color=FORECAST, lw=2, ls=(0, (4, 2)), label="forecast")
            ax.plot([n_days], [projected], "o", color=FORECAST, ms=5)
            ax.annotate(
                f"{_compact(projected, cur)}",
                (n_days, projected),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                color=FORECAST,
                fontweight="bold",
            )
            top = max(top, hi)
        if budget is not None:
            ax.axhline(budget, color=BAD, lw=1.1, ls=(0, (5, 3)))
            ax.annotate(
                f"budget {_compact(budget, cur)}",
                (1, budget),
                xytext=(0, 4),
                textcoords="offset points",
                color=BAD,
                fontsize=8.5,
                fontweight="bold",
            )
            top = max(top, budget)
        ax.set_xlim(0.5, n_days + 2.5)
        ax.set_ylim(0, top * 1.1 if top > 0 else 1)
        ax.set_xlabel(f"day of {ctx.month_start:%B}")
        _money_axis(ax, cur)
        ax.set_xticks([1, 5, 10, 15, 20, 25, n_days])
        ax.legend(loc="lower right", ncol=2)
        return _svg(fig, f"Cumulative org spend in {ctx.month_start:%B %Y} with forecast")


def _trust_line(ctx: _Ctx, projection: dict[str, Any]) -> str:
    """How far to trust the projection: the method and, if the backtest ran, its scores."""
    bits = []
    if projection.get("method"):
        bits.append(f"Forecast method: {_e(projection['method'])}")
    if ctx.has(BACKTEST, "series_id"):
        cols = [c for c in ("mase", "coverage_80") if c in ctx.columns[BACKTEST]]
        if cols:
            select = ", ".join(f"avg(cast({c} as double)) as {c}" for c in cols)
            row = ctx.df(f"select {select} from {BACKTEST} where series_id = 'org'")
            if len(row):
                if "mase" in cols and _finite(row.iloc[0]["mase"]):
                    mase = float(row.iloc[0]["mase"])
                    verdict = "beats" if mase < 1 else "does not beat"
                    bits.append(f"backtest MASE {mase:.2f} ({verdict} repeating last week's spend)")
                if "coverage_80" in cols and _finite(row.iloc[0]["coverage_80"]):
                    bits.append(
                        f"{_e(_pct(row.iloc[0]['coverage_80'], False))} of past actuals fell "
                        "inside the 80% interval"
                    )
    return f'<p class="fineprint">{"; ".join(bits)}.</p>' if bits else ""


def _bullet(
    actual: float | None,
    projected: float | None,
    lo: float | None,
    hi: float | None,
    budget: float | None,
    colour: str,
) -> str:
    """A bullet chart: actual bar, projected bar behind it, 80% whisker, budget tick."""
    w, h, pad = 220, 26, 3
    values = [v for v in (actual, projected, hi) if v is not None and v > 0]
    if not values and not budget:
        return ""
    # the budget tick sits at the same place on every row, so rows compare at a glance
    top = max([budget * 1.25 if budget else 0.0, *(v * 1.03 for v in values)])

    def sx(v: float) -> float:
        return pad + (w - 2 * pad) * max(v, 0.0) / top

    parts = [
        f'<svg class="bullet" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{_e(_bullet_label(actual, projected, budget))}">',
        f'<rect x="{pad}" y="7" width="{w - 2 * pad}" height="12" rx="2" fill="#eef0f4"/>',
    ]
    if projected is not None:
        parts.append(
            f'<rect x="{pad}" y="7" width="{sx(projected) - pad:.1f}" height="12" rx="2" '
            f'fill="{colour}" fill-opacity="0.28"/>'
        )
    if actual is not None:
        parts.append(
            f'<rect x="{pad}" y="9.5" width="{sx(actual) - pad:.1f}" height="7" rx="1.5" '
            f'fill="{colour}"/>'
        )
    if lo is not None and hi is not None:
        a, b = sx(lo), sx(hi)
        parts.append(
            f'<path d="M{a:.1f} 13H{b:.1f}M{a:.1f} 9.5V16.5M{b:.1f} 9.5V16.5" '
            f'stroke="{INK}" stroke-width="1.1" fill="none"/>'
        )
    if budget is not None:
        x = sx(budget)
        parts.append(f'<path d="M{x:.1f} 2V24" stroke="{INK}" stroke-width="2" fill="none"/>')
    parts.append("</svg>")
    return "".join(parts)


def _bullet_label(actual: float | None, projected: float | None, budget: float | None) -> str:
    if not budget:
        return "budget chart"
    used = f"actual {_pct((actual or 0) / budget, False)} of budget"
    if projected is None:
        return used
    return f"{used}, projected {_pct(projected / budget, False)}"


def _budget_table(ctx: _Ctx, budgets: pd.DataFrame) -> str:
    cur = ctx.currency
    order = {s: i for i, s in enumerate(("over_budget", "forecast_over_budget"))}
    frame = budgets.assign(
        _rank=budgets["status"].map(order).fillna(9),
        _pf=pd.to_numeric(budgets.get("pct_forecast", budgets["actual_mtd"]), errors="coerce"),
    ).sort_values(["_rank", "_pf"], ascending=[True, False])
    rows = []
    for _, r in frame.iterrows():
        status = str(r["status"])
        label, colour, bg, bar = STATUS.get(
            status, (status.replace("_", " "), MUTED, "#eef0f4", "#9aa3b2")
        )
        amount = _f(r["budget_amount_reporting"])
        actual = _f(r["actual_mtd"])
        projected = _f(r.get("forecast_month_end"))
        lo, hi = _f(r.get("forecast_lower_80")), _f(r.get("forecast_upper_80"))
        used = actual / amount if actual is not None and amount else None
        pf = projected / amount if projected is not None and amount else None
        crosses = _as_date(r.get("forecast_crosses_budget_on"))
        status_html = (
            f'<span class="badge" style="color:{colour};background:{bg}">{_e(label)}</span>'
        )
        if crosses is not None:
            verb = "crossed" if crosses < ctx.as_of else "crosses"
            status_html += f'<div class="small">{verb} {_e(_short_day(crosses))}</div>'
        scope = str(r.get("scope") or "")
        value = str(r.get("scope_value") or "")
        scope_text = SCOPE_LABELS.get(scope, scope.capitalize())
        target = "all spend" if scope == "org" else value
        interval = (
            f'<div class="small">{_e(_money(lo, cur))}{EN_DASH}{_e(_money(hi, cur))}</div>'
            if lo is not None and hi is not None
            else ""
        )
        rows.append(
            "<tr>"
            f'<td><div class="strong">{_e(_budget_name(r))}</div>'
            f'<div class="small">{_tagged(scope_text, target)}</div></td>'
            f'<td class="num">{_e(_money(actual, cur))}</td>'
            f'<td class="num">{_e(_money(amount, cur))}</td>'
            f'<td class="num">{_e(_pct(used, False))}</td>'
            f'<td class="num">{_e(_money(projected, cur))}{interval}</td>'
            f'<td class="num">{_e(_pct(pf, False))}</td>'
            f"<td>{status_html}</td>"
            f'<td class="bulletcell">{_bullet(actual, projected, lo, hi, amount, bar)}</td>'
            "</tr>"
        )
    head = (
        "<tr><th>Budget</th><th class=num>Month to date</th><th class=num>Budget</th>"
        "<th class=num>Used</th><th class=num>Projected (80%)</th><th class=num>Projected "
        "use</th><th>Status</th><th></th></tr>"
    )
    return f'<div class="scroll"><table class="budgets">{head}{"".join(rows)}</table></div>'


def _spend_by(ctx: _Ctx, section_id: str, title: str, table: str, dim: str) -> _Section:
    need = ("usage_date", dim, "billed_cost_reporting")
    if not ctx.has(table, *need):
        return _Section(section_id, title, _unavailable(ctx, title, table, need), ok=False)
    frame = ctx.df(
        f"select usage_date as day, coalesce(cast({dim} as varchar), '(unknown)') as name, "
        f"cast(sum(billed_cost_reporting) as double) as cost from {table} "
        "where usage_date >= ? and usage_date < ? group by all",
        [ctx.window_start, ctx.as_of],
    )
    if frame.empty or not frame["cost"].abs().sum():
        return _Section(
            section_id, title, _note(f"No spend in the last {HISTORY_DAYS} days."), ok=False
        )
    wide = _top_groups(frame, "name", ctx.last_day)
    colours = _colour_map(list(wide.columns))
    if dim == "provider":
        ctx.cache["provider_colours"] = colours
    caption = (
        f"Billed cost per day, {_span(ctx.window_start, ctx.last_day)}, stacked by {dim}; the "
        f"legend gives each {dim}'s total and share of the {HISTORY_DAYS} days."
    )
    chart = _stacked_chart(
        wide, colours, ctx.currency, f"Daily spend by {dim}, last {HISTORY_DAYS} days"
    )
    return _Section(section_id, title, chart, caption=caption)


def _top_groups(frame: pd.DataFrame, column: str, last_day: date) -> pd.DataFrame:
    """Days × groups (largest first), with groups beyond MAX_STACKED folded into Other."""
    totals = frame.groupby(column)["cost"].sum().sort_values(ascending=False)
    keep = list(totals.index[:MAX_STACKED]) if len(totals) > MAX_STACKED + 1 else list(totals.index)
    named = frame.assign(**{column: frame[column].where(frame[column].isin(keep), "Other")})
    wide = named.pivot_table(index="day", columns=column, values="cost", aggfunc="sum")
    wide.index = pd.to_datetime(wide.index)
    days = pd.date_range(wide.index.min(), last_day)  # days with no spend show as gaps
    wide = wide.reindex(days, fill_value=0.0).fillna(0.0)
    order = [c for c in keep if c in wide.columns] + (["Other"] if "Other" in wide.columns else [])
    return wide[order]


def _provider_section(ctx: _Ctx) -> _Section:
    return _spend_by(ctx, "providers", "Spend by provider", SPEND, "provider")


def _team_section(ctx: _Ctx) -> _Section:
    return _spend_by(ctx, "teams", "Spend by team", ALLOCATED, "team")


_MOVER_DIMENSIONS = (
    ("Providers", SPEND, "provider"),
    ("Teams", ALLOCATED, "team"),
    ("Features", ALLOCATED, "feature"),
    ("Models", SPEND, "model"),
)


def _movers_section(ctx: _Ctx) -> _Section:
    title = "Top movers"
    cur_start = ctx.as_of - timedelta(days=MOVER_DAYS)
    prev_start = cur_start - timedelta(days=MOVER_DAYS)
    spark_start = ctx.as_of - timedelta(days=4 * MOVER_DAYS)
    blocks = []
    any_data = False
    for label, table, dim in _MOVER_DIMENSIONS:
        need = ("usage_date", dim, "billed_cost_reporting")
        if not ctx.has(table, *need):
            blocks.append(f"<div><h3>{_e(label)}</h3>{_unavailable(ctx, label, table, need)}</div>")
            continue
        daily = ctx.df(
            f"select usage_date as day, coalesce(cast({dim} as varchar), '(unknown)') as name, "
            f"cast(sum(billed_cost_reporting) as double) as cost from {table} "
            "where usage_date >= ? and usage_date < ? group by all",
            [spark_start, ctx.as_of],
        )
        if daily.empty:
            blocks.append(
                f"<div><h3>{_e(label)}</h3>{_note('No spend in the last 28 days.')}</div>"
            )
            continue
        any_data = True
        daily["day"] = pd.to_datetime(daily["day"])
        cur_sum = daily[daily["day"] >= pd.Timestamp(cur_start)].groupby("name")["cost"].sum()
        prev_mask = (daily["day"] >= pd.Timestamp(prev_start)) & (
            daily["day"] < pd.Timestamp(cur_start)
        )
        prev_sum = daily[prev_mask].groupby("name")["cost"].sum()
        moves = pd.DataFrame({"cur": cur_sum, "prev": prev_sum}).fillna(0.0)
        moves["delta"] = moves["cur"] - moves["prev"]
        moves = moves[moves["delta"].abs() >= 0.005]
        moves = moves.reindex(moves["delta"].abs().sort_values(ascending=False).index).head(5)
        days = pd.date_range(spark_start, ctx.as_of, inclusive="left")
        wide = daily.pivot_table(index="day", columns="name", values="cost", aggfunc="sum")
        wide = wide.reindex(days).fillna(0.0)
        rows = []
        for name, m in moves.iterrows():
            pct = m["delta"] / m["prev"] if m["prev"] > 0 else None
            cls = _direction_class(m["delta"])
            spark = _sparkline(wide[name].to_numpy(dtype=float), MOVER_DAYS, cls)
            rows.append(
                f"<tr><td>{_e(name)}</td>"
                f'<td class="num">{_e(_money(m["cur"], ctx.currency))}</td>'
                f'<td class="num {cls}">{_e(_money(m["delta"], ctx.currency, signed=True))}</td>'
                f'<td class="num {cls}">{_e(_pct(pct) if pct is not None else "new")}</td>'
                f'<td class="spark">{spark}</td></tr>'
            )
        table_html = (
            '<table class="movers"><tr><th></th><th class=num>Last 7 days</th>'
            "<th class=num>Change</th><th class=num>%</th><th>28 days</th></tr>"
            + "".join(rows)
            + "</table>"
            if rows
            else _note("No changes.")
        )
        blocks.append(f"<div><h3>{_e(label)}</h3>{table_html}</div>")
    caption = (
        f"Spend {_span(cur_start, ctx.last_day)} against "
        f"{_span(prev_start, cur_start - timedelta(days=1))}: the five largest changes in "
        "dollars per dimension. Sparklines show 28 days, the last 7 shaded."
    )
    return _Section(
        "movers", title, f'<div class="grid2">{"".join(blocks)}</div>', caption, ok=any_data
    )


def _sparkline(values: np.ndarray, recent: int, cls: str) -> str:
    w, h, pad = 96, 24, 2
    n = len(values)
    if n < 2:
        return ""
    top = float(np.nanmax(values)) or 1.0
    xs = [pad + (w - 2 * pad) * i / (n - 1) for i in range(n)]
    ys = [h - pad - (h - 2 * pad) * max(float(v), 0.0) / top for v in values]
    shade_x = xs[n - recent] - 1.5 if n > recent else pad
    colour = {"up": BAD, "down": GOOD}.get(cls, MUTED)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return (
        f'<svg class="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'aria-hidden="true">'
        f'<rect x="{shade_x:.1f}" y="0" width="{w - shade_x:.1f}" height="{h}" fill="#f1f3f6"/>'
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.4" '
        'stroke-linejoin="round"/></svg>'
    )


# -- anomalies

_DRIVER_KIND = ("driver_kind", "kind")
_DRIVER_WHAT = ("name", "dimension", "driver_name")  # component, model, api_key_id, ...
_DRIVER_WHICH = ("value", "driver_value", "driver")  # volume, claude-sonnet-4-5, ...
_DRIVER_IMPACT = ("impact_usd", "contribution_usd", "delta_usd")
_DRIVER_SHARE = ("share_of_change", "share", "share_of_impact")
COMPONENT_LABELS = {
    "volume": "volume (requests)",
    "intensity": "tokens per request",
    "price_mix": "price / model mix",
    "new/vanished": "new or stopped keys",
    "unmetered": "unmetered charges",
}
DIMENSION_LABELS = {"api_key_id": "API key", "project": "project", "model": "model"}


def _pick(columns: set[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _anomaly_section(ctx: _Ctx) -> _Section:
    title = "Anomalies and their drivers"
    need = ("series_id", "day", "impact_usd")
    if not ctx.has(ANOMALIES, *need):
        return _Section(
            "anomalies", title, _unavailable(ctx, "Anomalies", ANOMALIES, need), ok=False
        )
    cur = ctx.currency
    start = ctx.as_of - timedelta(days=ANOMALY_DAYS)
    frame = ctx.df(
        f"select * exclude (day), cast(day as date) as day from {ANOMALIES} "
        "where cast(day as date) >= ? and cast(day as date) < ?",
        [start, ctx.as_of],
    )
    frame = _with_dates(frame)
    if "is_anomaly" in frame.columns:
        frame = frame[frame["is_anomaly"].fillna(False).astype(bool)]
    episodes: dict[str, tuple[int, date]] = {}
    if "episode_id" in frame.columns:
        for eid, group in frame.groupby("episode_id"):
            episodes[str(eid)] = (len(group), max(group["day"]))
    alerts = frame
    if "is_first_day" in frame.columns:
        alerts = frame[frame["is_first_day"].fillna(False).astype(bool)]
    caption = (
        f"Alerts of the last {ANOMALY_DAYS} days: days whose spend left the expected range, "
        "with what drove the change. One incident often shows in several series (the org, "
        "its provider, team and feature)." + _detection_note(ctx)
    )
    if alerts.empty:
        return _Section(
            "anomalies",
            title,
            _note(f"No anomalies in the last {ANOMALY_DAYS} days."),
            caption=caption,
        )
    alerts = alerts.assign(_abs=alerts["impact_usd"].abs()).sort_values(
        ["day", "_abs"], ascending=[False, False]
    )
    drivers, drivers_note = _drivers_for(ctx, alerts)
    rows = []
    for _, r in alerts.head(25).iterrows():
        day = _as_date(r["day"])
        sid = str(r["series_id"])
        scope, value = _series_label(sid)
        impact = _f(r["impact_usd"])
        cls = _direction_class(impact)
        pct = r.get("impact_pct")
        sev = str(r.get("severity") or "")
        fg, bg = SEVERITY.get(sev, (MUTED, "#eef0f4"))
        badge = (
            f'<span class="badge" style="color:{fg};background:{bg}">{_e(sev)}</span>'
            if sev and sev not in ("nan", "None", "<NA>")
            else ""
        )
        episode = ""
        if "episode_id" in alerts.columns and str(r["episode_id"]) in episodes:
            length, last = episodes[str(r["episode_id"])]
            ongoing = " · ongoing" if last >= ctx.last_day else ""
            episode = f'<div class="small">{length} day{"s" if length != 1 else ""}{ongoing}</div>'
        driver_html = (
            "".join(f'<div class="driver">{d}</div>' for d in drivers.get((sid, day), []))
            or f'<span class="muted">{DASH}</span>'
        )
        rows.append(
            "<tr>"
            f"<td class=nowrap>{_e(_short_day(day) if day else DASH)}{episode}</td>"
            f"<td>{_tagged(scope, value)}</td>"
            f'<td class="num">{_e(_money(r.get("expected"), cur))}</td>'
            f'<td class="num">{_e(_money(r.get("actual"), cur))}</td>'
            f'<td class="num {cls}"><b>{_e(_money(impact, cur, signed=True))}</b>'
            f'<div class="small">{_e(_pct(pct))}</div></td>'
            f"<td>{badge}</td>"
            f"<td>{driver_html}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>Day</th><th>Series</th><th class=num>Expected</th><th class=num>Actual</th>"
        "<th class=num>Impact</th><th>Severity</th><th>Top drivers</th></tr>"
    )
    more = (
        f'<p class="fineprint">Showing 25 of {len(alerts)} alerts, newest first.</p>'
        if len(alerts) > 25
        else ""
    )
    body = (
        f'<div class="scroll"><table class="anomalies">{head}{"".join(rows)}</table></div>'
        f"{more}{drivers_note}"
    )
    return _Section("anomalies", title, body, caption=caption)


def _drivers_for(
    ctx: _Ctx, alerts: pd.DataFrame
) -> tuple[dict[tuple[str, date | None], list[str]], str]:
    """Up to three drivers per (series, day), as escaped HTML lines, and a note if none.

    analytics.drivers gives per alert the change split into components (volume, tokens per
    request, price/mix, ...) and the top movers per dimension (API key, model, project, team,
    feature, customer). Shown: the largest component (two if the second carries a quarter),
    then the largest movers of different dimensions: together they say what moved and where."""
    need = ("series_id", "day")
    if not ctx.has(ANOMALY_DRIVERS, *need):
        return {}, _unavailable(ctx, "Anomaly drivers", ANOMALY_DRIVERS, need)
    columns = ctx.columns[ANOMALY_DRIVERS]
    kind_col = _pick(columns, _DRIVER_KIND)
    what_col = _pick(columns, _DRIVER_WHAT)
    which_col = _pick(columns, _DRIVER_WHICH)
    impact_col = _pick(columns, _DRIVER_IMPACT)
    share_col = _pick(columns, _DRIVER_SHARE)
    if which_col is None or impact_col is None:
        missing = "a driver value" if which_col is None else "impact_usd"
        ctx.warn(f"Anomaly drivers: {ANOMALY_DRIVERS} has no {missing} column")
        return {}, _note(f"Anomaly drivers not available: {ANOMALY_DRIVERS} has no {missing}.")
    days = sorted({d for d in alerts["day"] if d is not None})
    frame = ctx.df(
        f"select * exclude (day), cast(day as date) as day from {ANOMALY_DRIVERS} "
        "where cast(day as date) >= ? and cast(day as date) <= ?",
        [min(days), max(days)],
    )
    frame = _with_dates(frame)
    out: dict[tuple[str, date | None], list[str]] = {}
    if frame.empty:
        return out, ""
    frame = frame.assign(_abs=pd.to_numeric(frame[impact_col], errors="coerce").abs())
    frame = frame.sort_values("_abs", ascending=False)
    for (sid, day), group in frame.groupby(["series_id", "day"], sort=False):
        is_component = (
            group[kind_col].astype(str).eq("component")
            if kind_col
            else pd.Series(False, index=group.index)
        )
        components = group[is_component].head(2)
        if (
            len(components) == 2
            and share_col
            and not (abs(_f(components.iloc[1][share_col]) or 0) >= 0.25)
        ):
            components = components.head(1)
        movers = _informative_movers(group[~is_component], str(sid), what_col, share_col)
        lines = []
        for _, d in pd.concat([components, movers]).head(3).iterrows():
            which = str(d[which_col])
            if kind_col and str(d[kind_col]) == "component":
                label = _e(COMPONENT_LABELS.get(which, which.replace("_", " ")))
            else:
                what = str(d[what_col]) if what_col else ""
                what = DIMENSION_LABELS.get(what, what.replace("_", " "))
                label = f'<span class="muted">{_e(what)}</span> {_e(which)}'
            label += f" {_e(_money(d[impact_col], ctx.currency, signed=True))}"
            if share_col and _finite(d[share_col]):
                label += f' <span class="muted">({_e(_pct(d[share_col], False))})</span>'
            lines.append(label)
        out[(str(sid), _as_date(day))] = lines
    return out, ""


#: Which dimension explains an alert best when several explain most of it: a model or an API
#: key says what to look at; a team or customer mostly restates the series.
_DIMENSION_PREFERENCE = ("model", "api_key_id", "project", "feature", "team", "customer")


def _informative_movers(
    movers: pd.DataFrame, series_id: str, what_col: str | None, share_col: str | None
) -> pd.DataFrame:
    """The top mover of each dimension, without the series' own (a team series' team driver
    is the series itself); those carrying ≥ 30% of the change first, by preference."""
    if what_col is None:
        return movers
    scope = series_id.partition(":")[0]
    movers = movers[movers[what_col].astype(str) != scope].drop_duplicates(what_col)
    if share_col is None:
        return movers
    big = movers[pd.to_numeric(movers[share_col], errors="coerce").abs() >= 0.3]
    if big.empty:
        return movers
    order = {d: i for i, d in enumerate(_DIMENSION_PREFERENCE)}
    return big.assign(_pref=big[what_col].map(order).fillna(len(order))).sort_values(
        ["_pref", "_abs"], ascending=[True, False]
    )


def _detection_note(ctx: _Ctx) -> str:
    if not ctx.has(DETECTION, "precision", "recall"):
        return ""
    row = ctx.df(
        f"select avg(cast(precision as double)) as p, avg(cast(recall as double)) as r "
        f"from {DETECTION}"
    )
    if row.empty or not _finite(row.iloc[0]["p"]) or not _finite(row.iloc[0]["r"]):
        return ""
    return (
        f" On the simulator's known incidents the detector's precision is "
        f"{_pct(row.iloc[0]['p'], False)} and recall {_pct(row.iloc[0]['r'], False)}."
    )


# -- unit economics

_UNIT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("cost_per_request", "Cost per request", "money"),
    ("cost_per_1k_tokens", "Cost per 1K tokens", "money"),
    ("cache_hit_rate", "Cache hit rate (cached share of input tokens)", "share"),
    ("tokens_per_request", "Tokens per request", "number"),
)


def _metric_text(kind: str, value: object, currency: str) -> str:
    if kind == "money":
        return _unit_money(value, currency)
    if kind == "share":
        return _pct(value, False)
    return _number(value)


def _unit_economics_section(ctx: _Ctx) -> _Section:
    title = "Unit economics"
    need = ("period_start", "dimension", "dimension_value")
    if not ctx.has(UNIT_DAILY, *need):
        return _Section(
            "unit-economics", title, _unavailable(ctx, "Unit economics", UNIT_DAILY, need), ok=False
        )
    metrics = [m for m in _UNIT_METRICS if m[0] in ctx.columns[UNIT_DAILY]]
    if not metrics:
        return _Section(
            "unit-economics",
            title,
            _unavailable(ctx, "Unit economics", UNIT_DAILY, [m[0] for m in _UNIT_METRICS]),
            ok=False,
        )
    cols = ", ".join(f"cast({m[0]} as double) as {m[0]}" for m in metrics)
    frame = ctx.df(
        f"select cast(period_start as date) as day, cast(dimension_value as varchar) as name, "
        f"{cols} from {UNIT_DAILY} where dimension = 'provider' "
        "and cast(period_start as date) >= ? and cast(period_start as date) < ?",
        [ctx.window_start, ctx.as_of],
    )
    parts = [_unit_summary(ctx, metrics)]
    if frame.empty:
        parts.append(_note(f"No provider unit economics in the last {HISTORY_DAYS} days."))
        return _Section("unit-economics", title, "".join(parts), ok=False)
    parts.append(_unit_chart(ctx, frame, metrics))
    missing = [m[1] for m in _UNIT_METRICS if m not in metrics]
    if missing:
        parts.append(_note(f"Not available in {UNIT_DAILY}: {', '.join(missing)}."))
    caption = (
        "What a request and a thousand tokens cost, how much input is served from cache, and how "
        f"large requests are, per provider: 7-day averages over the last {HISTORY_DAYS} days. "
        "A provider that does not report a measure has no line for it."
    )
    return _Section("unit-economics", title, "".join(parts), caption=caption)


def _unit_summary(ctx: _Ctx, metrics: Sequence[tuple[str, str, str]]) -> str:
    """Org-wide, this month so far against last month: the four numbers in one row."""
    if not ctx.has(UNIT_MONTHLY, "period_start", "dimension", *[m[0] for m in metrics]):
        return ""
    cols = ", ".join(f"cast({m[0]} as double) as {m[0]}" for m in metrics)
    frame = ctx.df(
        f"select cast(period_start as date) as month, {cols} from {UNIT_MONTHLY} "
        "where dimension = 'org' and cast(period_start as date) in (?, ?)",
        [ctx.prev_month_start, ctx.month_start],
    )
    if frame.empty:
        return ""
    by_month = {_as_date(r["month"]): r for _, r in frame.iterrows()}
    now, before = by_month.get(ctx.month_start), by_month.get(ctx.prev_month_start)
    if now is None:
        return ""
    cells = []
    for column, label, kind in metrics:
        value = now[column]
        detail = ""
        if before is not None and _finite(before[column]) and _finite(value) and before[column]:
            change = float(value) / float(before[column]) - 1
            cls = _direction_class(change) if kind != "share" else ""
            earlier = _metric_text(kind, before[column], ctx.currency)
            detail = (
                f'<span class="{cls}">{_e(_pct(change))}</span> vs '
                f"{ctx.prev_month_start:%b} ({_e(earlier)})"
            )
        cells.append(
            f'<div class="stat"><div class="label">{_e(label.split(" (")[0])}</div>'
            f'<div class="value">{_e(_metric_text(kind, value, ctx.currency))}</div>'
            f'<div class="detail">{detail}</div></div>'
        )
    return f'<div class="stats">{"".join(cells)}</div>'


def _unit_axis(ax: Axes, kind: str, drawn: Sequence[np.ndarray], currency: str) -> None:
    """Providers differ by orders of magnitude (a coding tool's request is 40K tokens, an API
    call's 1K): a log scale then keeps every provider's trend visible."""
    values = np.concatenate(drawn) if drawn else np.array([])
    positive = values[np.isfinite(values) & (values > 0)]
    if kind == "share":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _pct(v, False)))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.set_ylim(0, 1)
        return
    if len(positive) and positive.max() / positive.min() > 8:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0), numticks=8))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.yaxis.set_major_locator(MaxNLocator(4))
    if kind == "money":
        symbol = _SYMBOLS.get(currency, "")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{symbol}{v:.3g}"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: _compact(v, "").strip()))


def _unit_chart(ctx: _Ctx, frame: pd.DataFrame, metrics: Sequence[tuple[str, str, str]]) -> str:
    colours = ctx.cache.get("provider_colours") or {}
    frame = frame.assign(day=pd.to_datetime(frame["day"]))
    totals = frame.groupby("name").size()
    names = [n for n in colours if n in totals.index] + sorted(
        n for n in totals.index if n not in colours
    )
    fallback = _colour_map(names)
    days = pd.date_range(ctx.window_start, ctx.as_of, inclusive="left")
    n = len(metrics)
    rows = (n + 1) // 2
    with _chart_style():
        fig = Figure(figsize=(10.4, 2.45 * rows + 0.4))
        axes = fig.subplots(rows, 2 if n > 1 else 1, squeeze=False).ravel()
        for ax, (column, label, kind) in zip(axes, metrics, strict=False):
            drawn: list[np.ndarray] = []
            for name in names:
                own = frame[frame["name"] == name].set_index("day")[column].reindex(days)
                smooth = own.rolling(7, min_periods=3).mean()
                if smooth.notna().sum() < 2:
                    continue
                drawn.append(smooth.to_numpy())
                ax.plot(
                    days,
                    smooth.to_numpy(),
                    color=colours.get(name, fallback[name]),
                    lw=1.6,
                    label=name,
                )
            _unit_axis(ax, kind, drawn, ctx.currency)
            ax.set_title(label + (" · log scale" if ax.get_yscale() == "log" else ""))
            _date_axis(ax)
            ax.set_xlim(days[0], days[-1])
        for ax in axes[n:]:
            ax.set_visible(False)
        handles: dict[str, Any] = {}
        for ax in axes[:n]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles.keys()),
                loc="upper center",
                ncol=min(len(handles), 8),
                bbox_to_anchor=(0.5, 1.0),
            )
        fig.tight_layout(rect=(0, 0, 1, 0.93), h_pad=1.6, w_pad=3.0)
        return _svg(fig, "Unit economics by provider, 7-day averages")


# -- savings


def _savings_section(ctx: _Ctx) -> _Section:
    title = "Savings"
    components = ("caching_savings_usd", "batch_savings_usd", "discount_savings_usd")
    need = ("usage_date", "billed_cost_usd", *components)
    source = next((t for t in (SAVINGS, SPEND) if ctx.has(t, *need)), None)
    if source is None:
        return _Section("savings", title, _unavailable(ctx, "Savings", SAVINGS, need), ok=False)
    first_month = _add_months(ctx.month_start, -(SAVINGS_MONTHS - 1))
    sums = ", ".join(f"cast(sum({c}) as double) as {c}" for c in (*components, "billed_cost_usd"))
    monthly = ctx.df(
        f"select cast(date_trunc('month', usage_date) as date) as month, {sums} "
        f"from {source} where usage_date >= ? and usage_date < ? group by 1 order by 1",
        [first_month, ctx.as_of],
    )
    if monthly.empty:
        return _Section(
            "savings", title, _note("No priced usage in the last six months."), ok=False
        )
    monthly = monthly.fillna(0.0)
    monthly["month"] = monthly["month"].map(_as_date)
    this = monthly[monthly["month"] == ctx.month_start]
    cells = []
    labels = {
        "caching_savings_usd": "Prompt caching",
        "batch_savings_usd": "Batch tier",
        "discount_savings_usd": "Discounts & credits",
    }
    if len(this):
        row = this.iloc[0]
        total = float(sum(row[c] for c in components))
        undiscounted = float(row["billed_cost_usd"]) + total
        before = monthly[monthly["month"] == ctx.prev_month_start]
        for c in components:
            detail = (
                f"{ctx.prev_month_start:%B}: {_e(_money(before.iloc[0][c], 'USD'))}"
                if len(before)
                else ""
            )
            cells.append(
                f'<div class="stat"><div class="label">{_e(labels[c])}</div>'
                f'<div class="value">{_e(_money(row[c], "USD"))}</div>'
                f'<div class="detail">{detail}</div></div>'
            )
        rate = total / undiscounted if undiscounted > 0 else None
        cells.append(
            f'<div class="stat"><div class="label">Saved in {ctx.month_start:%B}</div>'
            f'<div class="value good">{_e(_money(total, "USD"))}</div>'
            f'<div class="detail">{_e(_pct(rate, False))} of what it would have cost at list '
            "price without caching and batch</div></div>"
        )
    parts = [f'<div class="stats">{"".join(cells)}</div>'] if cells else []
    parts.append('<div class="split">')
    parts.append(_savings_chart(ctx, monthly, components, labels))
    parts.append(_savings_by_provider(ctx, source, components))
    parts.append("</div>")
    caption = (
        "What prompt caching, the batch tier and negotiated discounts saved against list price "
        f"in {ctx.month_start:%B} so far and over six months, in USD, for priced usage (source: "
        f"{source}). A negative discount means billed above "
        "list price."
    )
    return _Section("savings", title, "".join(parts), caption=caption)


def _savings_chart(
    ctx: _Ctx, monthly: pd.DataFrame, components: Sequence[str], labels: dict[str, str]
) -> str:
    colours = dict(zip(components, ("#59a14f", "#4e79a7", "#b07aa1"), strict=True))
    with _chart_style():
        fig = Figure(figsize=(6.2, 2.9))
        ax = fig.add_subplot()
        x = np.arange(len(monthly))
        pos = np.zeros(len(monthly))
        neg = np.zeros(len(monthly))
        for c in components:
            v = monthly[c].to_numpy(dtype=float)
            up, down = np.clip(v, 0, None), np.clip(v, None, 0)
            ax.bar(x, up, bottom=pos, width=0.62, color=colours[c], label=labels[c], lw=0)
            ax.bar(x, down, bottom=neg, width=0.62, color=colours[c], lw=0)
            pos += up
            neg += down
        if neg.min() < 0:
            ax.axhline(0, color="#9aa3b2", lw=0.8)
        ticks = [
            f"{m:%b}"
            + (" (MTD)" if m == ctx.month_start and ctx.as_of < ctx.next_month_start else "")
            for m in monthly["month"]
        ]
        ax.set_xticks(x, ticks)
        _money_axis(ax, "USD")
        ax.legend(loc="upper left", ncol=3, bbox_to_anchor=(0, 1.16))
        return _svg(fig, "Monthly savings by kind")


def _savings_by_provider(ctx: _Ctx, source: str, components: Sequence[str]) -> str:
    if not ctx.has(source, "provider"):
        return ""
    sums = ", ".join(f"cast(sum({c}) as double) as {c}" for c in components)
    frame = ctx.df(
        f"select provider, {sums} from {source} where usage_date >= ? and usage_date < ? "
        "group by 1",
        [ctx.month_start, ctx.as_of],
    ).fillna(0.0)
    if frame.empty:
        return ""
    frame["total"] = frame[list(components)].sum(axis=1)
    frame = frame.sort_values("total", ascending=False)
    rows = "".join(
        f"<tr><td>{_e(r['provider'])}</td>"
        + "".join(f'<td class="num">{_e(_money(r[c], "USD"))}</td>' for c in components)
        + f'<td class="num"><b>{_e(_money(r["total"], "USD"))}</b></td></tr>'
        for _, r in frame.iterrows()
    )
    return (
        f'<div><h3>By provider, {ctx.month_start:%B}</h3><table class="compact">'
        "<tr><th>Provider</th><th class=num>Caching</th><th class=num>Batch</th>"
        f"<th class=num>Discounts</th><th class=num>Total</th></tr>{rows}</table></div>"
    )


# --------------------------------------------------------------------------------------------
# page


#: Nothing but the inline CSS may load: a stray external reference fails loudly in the browser.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_NAV = (
    ("forecast", "Forecast & budgets"),
    ("providers", "By provider"),
    ("teams", "By team"),
    ("movers", "Top movers"),
    ("anomalies", "Anomalies"),
    ("unit-economics", "Unit economics"),
    ("savings", "Savings"),
)


def _page(ctx: _Ctx, sections: Sequence[_Section], dagster_url: str | None) -> str:
    spend = ctx.cache.get("spend") or {}
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    first, last = _as_date(spend.get("first_data")), _as_date(spend.get("last_data"))
    stale = ""
    if last is not None and last < ctx.last_day:
        gap = (ctx.last_day - last).days
        ctx.warn(f"latest spend is from {last}, {gap} day(s) before {ctx.last_day}")
        stale = (
            f'<p class="stale">The latest spend in the warehouse is from {_e(_day(last))}, '
            f"{gap} day{'s' if gap != 1 else ''} before this report's last day: recent numbers "
            "are incomplete.</p>"
        )
    data_window = f"warehouse spend {_e(_span(first, last))}" if first and last else "no spend data"
    missing = [t for t in ANALYTICS_TABLES if t not in ctx.columns]
    link = ""
    if dagster_url:
        if re.match(r"^https?://", dagster_url):
            link = f' · <a href="{_e(dagster_url)}">Open the pipeline in Dagster</a>'
        else:
            ctx.warn(f"dagster_url {dagster_url!r} is not an http(s) URL; left out")
    body = []
    for s in sections:
        if s.id == "headline":
            body.append(f'<section id="headline">{s.body}</section>')
            continue
        caption = f'<p class="caption">{_e(s.caption)}</p>' if s.caption else ""
        body.append(
            f'<section class="card" id="{_e(s.id)}"><h2>{_e(s.title)}</h2>{caption}{s.body}'
            "</section>"
        )
    nav = " ".join(f'<a href="#{i}">{_e(label)}</a>' for i, label in _NAV)
    footer = [
        f"Generated {_e(generated)} by aispend",
        f"report date {_e(_day(ctx.as_of))} (spend through {_e(_day(ctx.last_day))})",
        data_window,
        f"charts cover {HISTORY_DAYS} days from {_e(_day(ctx.window_start))}",
        f"amounts in {_e(ctx.currency)}, savings in USD",
    ]
    if missing:
        footer.append("not yet built: " + _e(", ".join(missing)))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="color-scheme" content="light">
<meta name="generator" content="aispend reports.daily">
<link rel="icon" href="data:,">
<title>AI spend report · {_e(_day(ctx.as_of))}</title>
<style>{_CSS}</style>
</head>
<body>
<main class="page">
<header class="top">
<div>
<p class="eyebrow">aispend · daily AI spend report</p>
<h1>AI spend through {_e(f"{ctx.last_day:%A}")} {_e(_day(ctx.last_day))}</h1>
</div>
<nav class="toc" aria-label="Sections">{nav}</nav>
</header>
{stale}
{"".join(body)}
<footer>{" · ".join(footer)}{link}</footer>
</main>
</body>
</html>
"""


_CSS = """
:root{--ink:#1b2230;--muted:#5d6675;--faint:#8a93a3;--line:#e4e7ec;--bg:#f4f5f7;--card:#fff;
--up:#b42318;--down:#067647;--accent:#2f5d9e;
--font:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",
"DejaVu Sans",sans-serif}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 var(--font);
font-variant-numeric:tabular-nums}
.page{max-width:1120px;margin:0 auto;padding:26px 24px 36px}
header.top{display:flex;justify-content:space-between;align-items:flex-end;gap:10px 24px;
flex-wrap:wrap;padding-bottom:10px;border-bottom:1px solid var(--line)}
.eyebrow{margin:0;color:var(--muted);font-size:12px;letter-spacing:.06em;text-transform:uppercase;
font-weight:600}
h1{margin:2px 0 0;font-size:24px;line-height:1.2;font-weight:650}
nav.toc{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:13px}
nav.toc a{color:var(--accent);text-decoration:none}
nav.toc a:hover{text-decoration:underline}
.lead{font-size:15px;margin:14px 0 14px;max-width:62em}
.stale{background:#fdf0e1;border:1px solid #f3c99a;color:#7a3d00;border-radius:8px;
padding:8px 12px;margin:12px 0}
.kpis{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:12px;margin:0 0 16px}
.kpi{background:var(--card);border:1px solid var(--line);border-top:3px solid var(--accent);
border-radius:10px;padding:12px 16px 14px}
.kpi.alert{border-top-color:var(--up)}
.kpi.muted{border-top-color:#c9ced6}
.kpi.muted .value{color:var(--faint)}
.label{font-size:11.5px;color:var(--muted);font-weight:600;text-transform:uppercase;
letter-spacing:.04em}
.kpi .value{font-size:27px;font-weight:650;line-height:1.15;margin:6px 0 6px;letter-spacing:-.01em}
.detail{font-size:12.5px;color:var(--muted);margin-top:2px}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px 22px 18px;margin:0 0 16px}
h2{font-size:17px;margin:0 0 2px;font-weight:650}
h3{font-size:13px;margin:4px 0 6px;font-weight:650}
.caption{color:var(--muted);font-size:13px;margin:0 0 12px;max-width:70em}
.fineprint{color:var(--faint);font-size:12px;margin:6px 0 10px}
.note{color:var(--muted);background:#f7f8fa;border:1px dashed #d5d9e0;border-radius:8px;
padding:9px 12px;font-size:13px;margin:8px 0}
figure.chart{margin:4px 0 8px}
figure.chart svg{display:block;width:100%;height:auto}
figure.chart svg text{font-family:var(--font)!important}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{font-weight:600;color:var(--muted);text-align:left;border-bottom:1px solid var(--line);
padding:5px 8px;font-size:12px;white-space:nowrap}
td{border-bottom:1px solid #eef0f3;padding:6px 8px;vertical-align:top}
tr:last-child td{border-bottom:0}
.num{text-align:right;white-space:nowrap}
.nowrap{white-space:nowrap}
.up{color:var(--up)}
.down{color:var(--down)}
.good{color:var(--down)}
.muted{color:var(--faint)}
.small{font-size:11.5px;color:var(--muted);margin-top:1px}
.strong{font-weight:600}
.tag{display:inline-block;font-size:11px;line-height:16px;color:var(--muted);background:#eef0f4;
border-radius:4px;padding:0 5px;margin-right:6px;font-weight:500}
.badge{display:inline-block;font-size:11.5px;font-weight:600;border-radius:999px;padding:1px 9px;
white-space:nowrap}
.driver{font-size:12.5px;white-space:nowrap}
td.bulletcell{vertical-align:middle;width:22%;min-width:110px}
svg.bullet{display:block;width:100%;max-width:220px;height:auto}
svg.sparkline{display:block}
td.spark{width:104px;vertical-align:middle}
.grid2{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:14px 32px}
table.movers td:first-child{max-width:170px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.stats{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px;margin:4px 0 12px}
.stat{border-left:3px solid var(--line);padding:2px 0 2px 12px}
.stat .value{font-size:20px;font-weight:650;margin:2px 0}
.split{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:24px;align-items:start}
table.compact td,table.compact th{padding:4px 6px}
footer{color:var(--faint);font-size:12px;margin-top:20px;padding-top:10px;
border-top:1px solid var(--line)}
footer a{color:var(--accent)}
@media (max-width:860px){.kpis,.stats{grid-template-columns:repeat(2,minmax(0,1fr))}
.grid2,.split{grid-template-columns:1fr}}
@media print{
@page{size:A4;margin:12mm}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{background:#fff;font-size:11px}
.page{max-width:none;padding:0}
nav.toc{display:none}
.scroll{overflow:visible}
section.card,.kpi{border-color:#d0d4da;break-inside:avoid;page-break-inside:avoid}
section.card{padding:10px 12px}
a{color:inherit;text-decoration:none}
}
"""
