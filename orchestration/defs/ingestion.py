"""dlt assets: one multi-asset per provider, keyed to match the dbt sources (`raw_<provider>`)."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion._common import day_start_unix
from orchestration.providers import PROVIDERS, Endpoints
from orchestration.settings import DEFAULT_WAREHOUSE, PROJECT_ROOT, load_settings
from orchestration.warehouse import dlt_pipeline, earliest_loaded_unix

WRITE_POOL = "duckdb_write"
# the cursor column of each raw table, used to detect that a window reaches back further
# than anything loaded so far (a backfill)
CURSOR_COLUMNS = {
    "openai": {"completions_usage": "start_time", "costs": "start_time"},
    "anthropic": {"messages_usage": "bucket_start", "cost_report": "bucket_start"},
}


class RawTableTranslator(DagsterDltTranslator):
    """Key each dlt resource as `[raw_<provider>, <table>]`, the key dbt gives its source, so
    dlt and dbt assets form one lineage graph with no dangling external assets."""

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey([f"raw_{self.provider}", data.resource.name]),
            deps=[],
            group_name="ingestion",
            description=(data.resource.__doc__ or spec.description or "").strip() or None,
        ).merge_attributes(kinds={"duckdb"}, tags={"provider": self.provider})


def _needs_backfill(provider: str, start: date) -> bool:
    settings = load_settings()
    wanted = day_start_unix(start)
    for table, column in CURSOR_COLUMNS[provider].items():
        earliest = earliest_loaded_unix(settings.warehouse, f"raw_{provider}", table, column)
        if earliest is not None and earliest > wanted:
            return True
    return False


def _build_provider_assets(provider: str) -> dg.AssetsDefinition:
    spec = PROVIDERS[provider]
    placeholder_source = spec.source_factory(
        api_key="unused-at-definition-time",
        start_date=date(2000, 1, 1),
        end_date=date(2000, 1, 2),
    )
    # a definition-time pipeline only gives dagster-dlt the names; the run builds the real one
    # from settings resolved when the run starts
    placeholder_pipeline = dlt_pipeline(
        provider, PROJECT_ROOT / DEFAULT_WAREHOUSE, PROJECT_ROOT / "data" / ".dlt_pipelines"
    )

    @dlt_assets(
        dlt_source=placeholder_source,
        dlt_pipeline=placeholder_pipeline,
        name=f"{provider}_ingest",
        dagster_dlt_translator=RawTableTranslator(provider),
        pool=WRITE_POOL,
    )
    def _assets(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        provider_endpoints: dg.ResourceParam[Endpoints],
    ) -> Iterator[Any]:
        settings = load_settings()
        if provider not in settings.providers:
            context.log.info(f"{provider} is not in AISPEND_PROVIDERS; nothing loaded")
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"skipped": "provider disabled by AISPEND_PROVIDERS"}
                )
            return
        endpoint = provider_endpoints.by_provider[provider]
        backfill = _needs_backfill(provider, settings.start_date)
        context.log.info(
            f"loading {endpoint.describe()} for {settings.start_date}..{settings.end_date} "
            f"(end exclusive, lookback {settings.lookback_days} d"
            f"{', backfill of the whole window' if backfill else ''})"
        )
        yield from dlt.run(
            context=context,
            dlt_source=provider_endpoints.source(provider, settings, backfill=backfill),
            dlt_pipeline=dlt_pipeline(provider, settings.warehouse, settings.dlt_pipelines_dir),
        )

    return _assets


openai_assets = _build_provider_assets("openai")
anthropic_assets = _build_provider_assets("anthropic")
