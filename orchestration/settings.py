"""Run-time configuration, read from the environment when a run starts (never at import).

The contract (design.md): AISPEND_WAREHOUSE, AISPEND_START_DATE / AISPEND_END_DATE (UTC, end
exclusive), AISPEND_PROVIDERS, AISPEND_CURRENCY (reporting currency), and per provider a key
and base URL variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_WINDOW_DAYS = 180


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved once and handed to dlt, dbt and Dagster."""

    warehouse: Path
    start_date: date
    end_date: date
    providers: tuple[str, ...]
    lookback_days: int
    simulator_seed: int
    reporting_currency: str = "USD"

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt's local working state, kept beside the warehouse (the warehouse holds the truth)."""
        return self.warehouse.parent / ".dlt_pipelines"


def _parse_date(env: Mapping[str, str], name: str) -> date | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a date in YYYY-MM-DD form") from exc


def _parse_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from exc
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def today_utc() -> date:
    return datetime.now(UTC).date()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from the environment; raise ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    warehouse = Path(env.get("AISPEND_WAREHOUSE", "").strip() or DEFAULT_WAREHOUSE)
    warehouse = warehouse.expanduser().resolve()

    end = _parse_date(env, "AISPEND_END_DATE") or today_utc()
    start = _parse_date(env, "AISPEND_START_DATE") or end - timedelta(days=DEFAULT_WINDOW_DAYS)
    if start >= end:
        raise ConfigError(
            f"AISPEND_START_DATE ({start}) must be before AISPEND_END_DATE ({end}); "
            "the end date is exclusive"
        )

    from orchestration.sources import known_providers

    known = known_providers()
    raw_providers = env.get("AISPEND_PROVIDERS", "").strip()
    providers = tuple(p.strip().lower() for p in (raw_providers or ",".join(known)).split(","))
    providers = tuple(p for p in providers if p)
    unknown = sorted(set(providers) - set(known))
    if unknown or not providers:
        raise ConfigError(
            f"AISPEND_PROVIDERS={raw_providers!r}: unknown provider(s) {unknown}; "
            f"choose from {', '.join(known)}"
        )

    currency = env.get("AISPEND_CURRENCY", "").strip().upper() or "USD"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigError(
            f"AISPEND_CURRENCY={env.get('AISPEND_CURRENCY')!r} is not a three-letter ISO 4217 "
            "code such as USD or EUR"
        )

    return Settings(
        reporting_currency=currency,
        warehouse=warehouse,
        start_date=start,
        end_date=end,
        providers=providers,
        lookback_days=_parse_int(env, "AISPEND_LOOKBACK_DAYS", 3),
        simulator_seed=_parse_int(env, "AISPEND_SIMULATOR_SEED", 42),
    )
