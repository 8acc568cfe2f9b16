"""Tables computed in Python and landed with dlt before dbt reads them, on any warehouse.

dbt-postgres runs no Python models, so what used to be dbt Python models is written here with
dlt, whose destination (DuckDB file or PostgreSQL server) follows the run's settings:

- `raw_config/allocation_rules`, `raw_config/teams`: config/allocation_rules.csv and teams.csv,
  validated (an error names the file, the line and the field) and loaded before staging reads
  them (`stg_config__allocation_rules`, `stg_config__teams`).
- `raw_reference/price_book`: the dated list-price book of every model dbt has observed
  (`int_models_observed`), read by the SQL model `int_price_book`. dbt → Python → dbt: Dagster
  splits the dbt multi-asset into a step before and a step after this one.

No `from __future__ import annotations` here: Dagster inspects the context annotation.
"""

from collections.abc import Iterator

import dagster as dg
import dlt
from dagster_dbt import get_asset_key_for_model

from ingestion.config import ConfigFileError, config_dir
from ingestion.config.source import DATASET as CONFIG_DATASET
from ingestion.config.source import config_resources
from ingestion.prices import PriceOverrideError, load_overrides
from ingestion.prices.source import DATASET as REFERENCE_DATASET
from ingestion.prices.source import TABLE as PRICE_BOOK_TABLE
from ingestion.prices.source import price_book_records, price_book_resource
from orchestration.defs.ingestion import OWNERS, WRITE_POOL
from orchestration.defs.transform import dbt_models
from orchestration.settings import Settings, load_settings
from orchestration.warehouse import connect, dlt_pipeline

CONFIG_TABLES = ("allocation_rules", "teams")
PRICE_BOOK_KEY = dg.AssetKey([REFERENCE_DATASET, PRICE_BOOK_TABLE])
MODELS_OBSERVED_KEY = get_asset_key_for_model([dbt_models], "int_models_observed")
# what the price book reads: a dbt model, so in the schema dbt writes on every target
MODELS_OBSERVED_SQL = "select provider, model from intermediate.int_models_observed"


def reference_pipeline(settings: Settings, dataset: str) -> dlt.Pipeline:
    """The dlt pipeline of `raw_<name>` on the run's warehouse (orchestration.warehouse picks
    the destination from the settings, so DuckDB and PostgreSQL are written by the same code)."""
    name = dataset.removeprefix("raw_")
    return dlt_pipeline(name, settings, settings.dlt_pipelines_dir)


def observed_models(settings: Settings) -> list[tuple[str, str]]:
    """The (provider, model) pairs dbt has observed, sorted, from the run's warehouse."""
    with connect(settings, read_only=True) as con:
        rows = con.execute(MODELS_OBSERVED_SQL).fetchall()
    return sorted((str(provider), str(model)) for provider, model in rows)


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows the pipeline's last run wrote, per table."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    return dict(info.row_counts) if info is not None else {}


@dg.multi_asset(
    name="config_ingest",
    specs=[
        dg.AssetSpec(
            key=dg.AssetKey([CONFIG_DATASET, table]),
            group_name="ingestion",
            kinds={"dlt", "csv"},
            owners=OWNERS,
            tags={"source": "config"},
            description=(
                f"config/{table}.csv (AISPEND_CONFIG_DIR overrides the folder), validated by "
                "ingestion/config and replaced whole on every run; a malformed file fails this "
                "step naming the file, the line and the field, and nothing downstream runs."
            ),
        )
        for table in CONFIG_TABLES
    ],
    pool=WRITE_POOL,
)
def config_ingest(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
    """Validate the config files, then load them with dlt."""
    settings = load_settings()
    folder = config_dir()
    try:
        resources = config_resources(folder)
    except ConfigFileError as exc:
        raise dg.Failure(description=str(exc)) from exc
    pipeline = reference_pipeline(settings, CONFIG_DATASET)
    pipeline.run(resources)
    counts = loaded_rows(pipeline)
    context.log.info(f"config from {folder}: {counts}")
    for table in CONFIG_TABLES:
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey([CONFIG_DATASET, table]),
            metadata={
                "dagster/row_count": counts.get(table, 0),
                "file": str(folder / f"{table}.csv"),
            },
        )


@dg.asset(
    key=PRICE_BOOK_KEY,
    deps=[MODELS_OBSERVED_KEY],
    group_name="intermediate",
    kinds={"dlt", "python"},
    owners=OWNERS,
    pool=WRITE_POOL,
    description=(
        "The dated list-price book of every model intermediate.int_models_observed names: "
        "genai-prices' bundled data (never fetched at run time) plus config/price_overrides.csv, "
        "per token class, service tier and long-context tier. Replaced whole on every run; dbt "
        "reads it as int_price_book. A model with no price has no rows (it is `unpriced`)."
    ),
)
def price_book(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Price the observed models and load the book with dlt."""
    settings = load_settings()
    path = config_dir() / "price_overrides.csv"
    try:
        overrides = load_overrides(path)
    except PriceOverrideError as exc:
        raise dg.Failure(description=str(exc)) from exc
    observed = observed_models(settings)
    pipeline = reference_pipeline(settings, REFERENCE_DATASET)
    records = price_book_records(observed, overrides)
    pipeline.run(price_book_resource(records))
    rows = loaded_rows(pipeline).get(PRICE_BOOK_TABLE, 0)
    # the pairs neither genai-prices nor an override prices: their usage is `unpriced`
    priced = {(r["provider"], r["model"]) for r in records}
    unpriced = [f"{p}/{m}" for p, m in observed if (p, m) not in priced]
    context.log.info(
        f"price book: {rows} rows for {len(observed)} observed models, "
        f"{len(unpriced)} without a price: {', '.join(unpriced) or 'none'}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "observed_models": len(observed),
            "unpriced_models": ", ".join(unpriced) or "none",
            "overrides_file": str(path),
        }
    )


reference_assets = [config_ingest, price_book]
