"""Run-time configuration, read from the environment when a run starts (never at import).

The contract (design.md): AISPEND_WAREHOUSE, AISPEND_START_DATE / AISPEND_END_DATE (UTC, end
exclusive), AISPEND_PROVIDERS, AISPEND_CURRENCY (reporting currency), and per provider a key
and base URL variable.

AISPEND_TARGET picks the warehouse: `duckdb` (default, the file AISPEND_WAREHOUSE) or `postgres`
(the server named by libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). dlt, dbt and the
Python assets all follow it; the password is kept out of every repr and log line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_WINDOW_DAYS = 180
# DuckDB's own default is 80% of the machine's memory, and it fills that with cached blocks
# of the warehouse file: a year's backfill at `large` held 18.6 GiB. Every DuckDB connection
# of the pipeline (dlt, dbt, the Python assets) gets this limit instead and spills to disk.
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"
_MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
TARGETS = ("duckdb", "postgres")
# libpq's own variables, so psql, dbt-postgres and every other client agree on the server
POSTGRES_DEFAULTS = {
    "PGHOST": "127.0.0.1",
    "PGPORT": "5432",
    "PGUSER": "aispend",
    "PGPASSWORD": "",
    "PGDATABASE": "aispend",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class PostgresSettings:
    """Where the PostgreSQL warehouse is; `password` never appears in a repr."""

    host: str = POSTGRES_DEFAULTS["PGHOST"]
    port: int = int(POSTGRES_DEFAULTS["PGPORT"])
    user: str = POSTGRES_DEFAULTS["PGUSER"]
    database: str = POSTGRES_DEFAULTS["PGDATABASE"]
    password: str = field(default="", repr=False)

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect (and dlt's postgres credentials)."""
        out: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
        }
        if self.password:
            out["password"] = self.password
        return out

    def libpq_env(self) -> dict[str, str]:
        """The PG* variables for a subprocess (dbt, psql): the password only when set."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def describe(self) -> str:
        """`user@host:port/database`, for logs (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


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
    # size of the simulated organisation (AISPEND_SIMULATOR_SCALE): small, medium or large
    simulator_scale: str = "small"
    # the simulated world's end (AISPEND_SIMULATOR_WORLD_END, default end_date): with it fixed,
    # a run with a later end_date sees the same simulated past (see SimConfig.world_end)
    simulator_world_end: date | None = None
    target: str = "duckdb"
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    # AISPEND_DUCKDB_MEMORY_LIMIT, handed to dbt; the Python side reads it with duckdb_config()
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt's local working state, kept beside the warehouse (the warehouse holds the truth);
        one folder per target, so state of one never meets the other's destination."""
        if self.target == "postgres":
            return self.warehouse.parent / ".dlt_pipelines_postgres"
        return self.warehouse.parent / ".dlt_pipelines"

    @property
    def dbt_target(self) -> str:
        """The output of dbt_project/profiles.yml that matches the target."""
        return self.target

    def dbt_env(self) -> dict[str, str]:
        """Environment for the dbt subprocess: the target (AISPEND_DBT_TARGET), the DuckDB file
        and, on PostgreSQL, libpq's PG* variables with their defaults filled in."""
        env = {
            "AISPEND_WAREHOUSE": str(self.warehouse),
            "AISPEND_DBT_TARGET": self.dbt_target,
            "AISPEND_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
        }
        if self.target == "postgres":
            env.update(self.postgres.libpq_env())
        return env

    def describe_warehouse(self) -> str:
        """Where the tables are, for logs and summaries (never a password)."""
        if self.target == "postgres":
            return f"postgres {self.postgres.describe()}"
        return f"duckdb {self.warehouse}"


def _parse_date(env: Mapping[str, str], name: str) -> date | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a date in YYYY-MM-DD form") from exc


def _parse_world_end(env: Mapping[str, str], end: date) -> date | None:
    world_end = _parse_date(env, "AISPEND_SIMULATOR_WORLD_END")
    if world_end is not None and world_end < end:
        raise ConfigError(
            f"AISPEND_SIMULATOR_WORLD_END={world_end.isoformat()} is before the window's end "
            f"{end.isoformat()}: the simulated world must cover the window"
        )
    return world_end


def duckdb_memory_limit(env: Mapping[str, str] | None = None) -> str:
    """`AISPEND_DUCKDB_MEMORY_LIMIT` (default 3GB): the memory limit of every DuckDB
    connection; raise ConfigError when it is not a size such as 3GB or 500MB."""
    env = os.environ if env is None else env
    raw = env.get("AISPEND_DUCKDB_MEMORY_LIMIT", "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT
    if not _MEMORY_LIMIT.fullmatch(raw):
        raise ConfigError(
            f"AISPEND_DUCKDB_MEMORY_LIMIT={raw!r} is not a size such as 3GB, 1.5GiB or 500MB"
        )
    return raw


def duckdb_config(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The configuration every DuckDB connection of the pipeline opens with."""
    return {"memory_limit": duckdb_memory_limit(env)}


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


def _parse_choice(
    env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str, what: str
) -> str:
    raw = env.get(name, "").strip()
    value = raw.lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={raw!r} is not {what}; choose {_one_of(choices)}")
    return value


def _one_of(choices: tuple[str, ...]) -> str:
    return " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)


def _parse_target(env: Mapping[str, str]) -> str:
    return _parse_choice(env, "AISPEND_TARGET", TARGETS, "duckdb", "a warehouse target")


def _parse_scale(env: Mapping[str, str]) -> str:
    from ingestion.simulator.config import SCALES

    return _parse_choice(env, "AISPEND_SIMULATOR_SCALE", SCALES, "small", "a simulator scale")


def load_postgres_settings(env: Mapping[str, str] | None = None) -> PostgresSettings:
    """The PostgreSQL server from libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
    PGDATABASE), with the defaults in POSTGRES_DEFAULTS; raise ConfigError naming a bad one."""
    env = os.environ if env is None else env

    def get(name: str) -> str:
        return env.get(name, "").strip() or POSTGRES_DEFAULTS[name]

    port = _parse_int({"PGPORT": get("PGPORT")}, "PGPORT", 5432, minimum=1)
    if port > 65535:
        raise ConfigError(f"PGPORT={port} is not a TCP port (1-65535)")
    return PostgresSettings(
        host=get("PGHOST"),
        port=port,
        user=get("PGUSER"),
        database=get("PGDATABASE"),
        password=env.get("PGPASSWORD", ""),  # kept as given: a password may start with a space
    )


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

    target = _parse_target(env)
    postgres = load_postgres_settings(env) if target == "postgres" else PostgresSettings()

    return Settings(
        target=target,
        postgres=postgres,
        reporting_currency=currency,
        warehouse=warehouse,
        start_date=start,
        end_date=end,
        providers=providers,
        lookback_days=_parse_int(env, "AISPEND_LOOKBACK_DAYS", 3),
        simulator_seed=_parse_int(env, "AISPEND_SIMULATOR_SEED", 42),
        simulator_scale=_parse_scale(env),
        simulator_world_end=_parse_world_end(env, end),
        duckdb_memory_limit=duckdb_memory_limit(env),
    )
