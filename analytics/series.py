"""Daily spend series and the fine-grained lines behind them, read from the marts.

Two frames are the contract between the warehouse and the analytics functions:

* **lines** (`load_spend_lines`): one row per day × provider × project × API key × model ×
  team × feature × customer, from `marts.fct_ai_spend_allocated`. Columns: `day`
  (datetime64, midnight UTC), `provider`, `project_id`, `api_key_id`, `model`, `team`,
  `feature`, `customer` (strings, '~' for unknown), `cost` (billed cost in the reporting
  currency, float), `list_cost`, `requests`, `input_tokens` (all input: uncached + cached +
  cache writes), `cached_input_tokens`, `output_tokens` (floats; NaN where the source does
  not know them). The anomaly drivers are computed from it.
* **series** (`build_series`): one row per `series_id` × `day`, dense (days with no spend are
  0), columns `series_id`, `scope`, `scope_value`, `day`, `cost`. `series_id` is
  `org`, or `<scope>:<value>` (`provider:openai`, `team:search`, ...). Forecasts, backtests
  and anomaly detection run on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import duckdb

    from orchestration.warehouse import Connection

#: Scopes a series can have, coarsest first. `project` is the provider's own grouping
#: (OpenAI project, Anthropic workspace, cloud account or project), prefixed by the provider.
SCOPES: tuple[str, ...] = ("org", "provider", "project", "team", "feature", "customer")

#: The scopes forecast and watched by default (customer series are many and small).
DEFAULT_SCOPES: tuple[str, ...] = ("org", "provider", "project", "team", "feature")

LINE_DIMENSIONS: tuple[str, ...] = (
    "provider",
    "project_id",
    "api_key_id",
    "model",
    "team",
    "feature",
    "customer",
)
LINE_MEASURES: tuple[str, ...] = (
    "cost",
    "list_cost",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
)

_LINES_SQL = """
select
    usage_date as day,
    provider,
    coalesce(project_id, '~') as project_id,
    coalesce(api_key_id, '~') as api_key_id,
    coalesce(model, '~') as model,
    team,
    feature,
    customer,
    cast(sum(billed_cost_reporting) as double precision) as cost,
    cast(sum(list_cost_reporting) as double precision) as list_cost,
    cast(sum(requests) as double precision) as requests,
    cast(sum(total_input_tokens) as double precision) as input_tokens,
    cast(sum(cached_input_tokens) as double precision) as cached_input_tokens,
    cast(sum(output_tokens) as double precision) as output_tokens
from marts.fct_ai_spend_allocated
where usage_date >= ? and usage_date < ?
group by 1, 2, 3, 4, 5, 6, 7, 8
order by 1, 2, 3, 4, 5, 6, 7, 8
"""


def load_spend_lines(
    con: Connection | duckdb.DuckDBPyConnection, start: date, end: date
) -> pd.DataFrame:
    """The allocated spend of `[start, end)` at the grain the anomaly drivers need."""
    frame = con.execute(_LINES_SQL, [start, end]).df()
    frame["day"] = pd.to_datetime(frame["day"])
    for column in LINE_DIMENSIONS:
        frame[column] = frame[column].astype("string")
    for column in LINE_MEASURES:
        frame[column] = frame[column].astype("float64")
    return frame


def scope_values(lines: pd.DataFrame, scope: str) -> pd.Series:
    """The value of `scope` for each line (`project` is `provider/project_id`)."""
    if scope == "org":
        return pd.Series("all", index=lines.index, dtype="string")
    if scope == "project":
        return lines["provider"].astype("string") + "/" + lines["project_id"].astype("string")
    if scope not in SCOPES:
        raise ValueError(f"unknown series scope {scope!r}; expected one of {', '.join(SCOPES)}")
    return lines[scope].astype("string")


def series_id(scope: str, value: str) -> str:
    """The id of one series: `org`, or `<scope>:<value>`."""
    return "org" if scope == "org" else f"{scope}:{value}"


def build_series(
    lines: pd.DataFrame,
    start: date,
    end: date,
    scopes: Sequence[str] = DEFAULT_SCOPES,
    measure: str = "cost",
) -> pd.DataFrame:
    """Dense daily series of `measure` for every value of every scope over `[start, end)`."""
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D", inclusive="left")
    parts: list[pd.DataFrame] = []
    for scope in scopes:
        keyed = pd.DataFrame(
            {"scope_value": scope_values(lines, scope), "day": lines["day"], "v": lines[measure]}
        )
        sums = keyed.groupby(["scope_value", "day"], observed=True)["v"].sum()
        for value in sorted(keyed["scope_value"].dropna().unique()):
            daily = sums.loc[value].reindex(days, fill_value=0.0)
            parts.append(
                pd.DataFrame(
                    {
                        "series_id": series_id(scope, str(value)),
                        "scope": scope,
                        "scope_value": str(value),
                        "day": days,
                        "cost": daily.to_numpy(dtype="float64"),
                    }
                )
            )
    if not parts:
        return empty_series()
    out = pd.concat(parts, ignore_index=True)
    out["cost"] = out["cost"].fillna(0.0).astype("float64")
    return out


def empty_series() -> pd.DataFrame:
    """A series frame with no rows and the contract's dtypes."""
    return pd.DataFrame(
        {
            "series_id": pd.Series(dtype="string"),
            "scope": pd.Series(dtype="string"),
            "scope_value": pd.Series(dtype="string"),
            "day": pd.Series(dtype="datetime64[ns]"),
            "cost": pd.Series(dtype="float64"),
        }
    )


def lines_in_series(lines: pd.DataFrame, sid: str) -> pd.Series:
    """Boolean mask of the lines that make up series `sid`."""
    if sid == "org":
        return pd.Series(True, index=lines.index)
    scope, _, value = sid.partition(":")
    return scope_values(lines, scope) == value


def iter_series(series: pd.DataFrame) -> Iterable[tuple[str, pd.Series]]:
    """(series_id, cost indexed by day) for each series, in id order."""
    for sid, group in series.groupby("series_id", sort=True):
        yield str(sid), pd.Series(group["cost"].to_numpy(np.float64), index=group["day"])
