"""dlt assets: one multi-asset per source, keyed to match the dbt sources (`raw_<source>`)."""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion._common import day_start_unix
from ingestion._quarantine import with_quarantine_counts
from orchestration.settings import DEFAULT_WAREHOUSE, PROJECT_ROOT, Settings, load_settings
from orchestration.sources import SOURCES, SourceInputs, SourceSpec
from orchestration.warehouse import dlt_pipeline, earliest_loaded_unix

WRITE_POOL = "duckdb_write"
# who answers for the assets in the Dagster UI (a team, or a person's email)
OWNERS = ["team:finops-data"]


class RawTableTranslator(DagsterDltTranslator):
    """Key each dlt resource as `[raw_<source>, <table>]`, the key dbt gives its source, so
    dlt and dbt assets form one lineage graph with no dangling external assets."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey([self.spec.dataset, data.resource.name]),
            deps=[],
            group_name="ingestion",
            description=(data.resource.__doc__ or spec.description or "").strip() or None,
        ).merge_attributes(
            kinds={"dlt"},
            tags={"provider": self.spec.provider, "source": self.spec.name},
            owners=OWNERS,
        )


def needs_backfill(spec: SourceSpec, settings: Settings) -> bool:
    """True when the window starts before the earliest bucket already loaded."""
    wanted = day_start_unix(settings.start_date)
    for table, column in spec.cursor_columns.items():
        earliest = earliest_loaded_unix(settings, spec.dataset, table, column)
        if earliest is not None and earliest > wanted:
            return True
    return False


def _placeholder_source(spec: SourceSpec) -> Any:
    """A source object that only tells dagster-dlt the resource names; the run builds the real
    one from settings resolved when the run starts."""
    window = {"start_date": date(2000, 1, 1), "end_date": date(2000, 1, 2)}
    if spec.kind == "api":
        return spec.source_factory()(api_key="unused-at-definition-time", **window)
    return spec.source_factory()(export_path="unused-at-definition-time", **window)


def build_source_assets(spec: SourceSpec) -> dg.AssetsDefinition:
    placeholder_pipeline = dlt_pipeline(
        spec.name, PROJECT_ROOT / DEFAULT_WAREHOUSE, PROJECT_ROOT / "data" / ".dlt_pipelines"
    )

    @dlt_assets(
        dlt_source=_placeholder_source(spec),
        dlt_pipeline=placeholder_pipeline,
        name=f"{spec.name}_ingest",
        dagster_dlt_translator=RawTableTranslator(spec),
        pool=WRITE_POOL,
    )
    def _assets(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        source_inputs: dg.ResourceParam[SourceInputs],
    ) -> Iterator[Any]:
        settings = load_settings()
        if spec.provider not in settings.providers:
            context.log.info(f"{spec.provider} is not in AISPEND_PROVIDERS; nothing loaded")
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"skipped": "provider disabled by AISPEND_PROVIDERS"}
                )
            return
        given = source_inputs.by_source[spec.name]
        backfill = spec.kind == "api" and needs_backfill(spec, settings)
        context.log.info(
            f"loading {given.describe()} for {settings.start_date}..{settings.end_date} "
            f"(end exclusive, lookback {settings.lookback_days} d"
            f"{', backfill of the whole window' if backfill else ''})"
        )
        pipeline = dlt_pipeline(spec.name, settings, settings.dlt_pipelines_dir)
        events = dlt.run(
            context=context,
            dlt_source=source_inputs.build(spec.name, settings, backfill=backfill),
            dlt_pipeline=pipeline,
        )
        # file sources: `quarantined_rows`, the rows this load set aside in raw_<source>.quarantine
        yield from with_quarantine_counts(events, pipeline)

    return _assets


source_assets = [build_source_assets(spec) for spec in SOURCES.values()]
