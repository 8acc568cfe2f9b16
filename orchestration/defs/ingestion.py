"""dlt assets: one multi-asset per source, keyed to match the dbt sources (`raw_<source>`)."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion._quarantine import with_quarantine_counts
from orchestration import partitions
from orchestration.partitions import BACKFILL_POLICY, DAILY_PARTITIONS
from orchestration.settings import DEFAULT_WAREHOUSE, PROJECT_ROOT, Settings, load_settings
from orchestration.sources import SOURCES, SourceInputs, SourceSpec
from orchestration.warehouse import dlt_pipeline, loaded_span_unix

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


def resume_day(spec: SourceSpec, settings: Settings) -> date:
    """The first day the daily run of an API source reads: the last day already loaded minus
    the lookback (providers restate recent days; merging on the natural key makes the overlap
    harmless), never before the window start. The whole window when a cursor table is empty or
    the window starts before its earliest loaded bucket (the window was moved back).

    What is loaded is read from the warehouse, not from dlt's cursor state: backfill runs of
    other ranges load with the cursor off, and the warehouse is what they leave behind.
    """
    latest: list[date] = []
    for table, column in spec.cursor_columns.items():
        first, last = loaded_span_unix(settings, spec.dataset, table, column)
        # by UTC day: hourly buckets of the first day may start after midnight
        if first is None or last is None or _utc_day(first) > settings.start_date:
            return settings.start_date
        latest.append(_utc_day(last))
    if not latest:
        return settings.start_date
    resume = min(latest) - timedelta(days=settings.lookback_days)
    # a window that now ends before the data loaded still re-reads its last day
    return max(settings.start_date, min(resume, settings.end_date - timedelta(days=1)))


def _utc_day(unix: int) -> date:
    return datetime.fromtimestamp(unix, UTC).date()


def run_window(
    context: dg.AssetExecutionContext, spec: SourceSpec, configured: Settings
) -> tuple[Settings, str]:
    """The settings of this run's source and a description of its window for the log.

    The daily run covers the configured window: API sources resume (`resume_day`). Any other
    run is a backfill of its partitions: their days are read again, all of them.
    """
    window = partitions.backfill_window(context.run.tags)
    if window is not None:
        start, end = window
        settings = replace(configured, start_date=start, end_date=end)
        return settings, f"{start}..{end}, backfill: every day read again"
    start, end = configured.start_date, configured.end_date
    if spec.kind != "api":
        return configured, f"{start}..{end}"
    resume = resume_day(spec, configured)
    if resume == start:
        return configured, f"{start}..{end}, every day of the window read"
    return replace(configured, start_date=resume), (
        f"{resume}..{end} (the window {start}..{end}, resuming {configured.lookback_days} "
        "days before the last day loaded)"
    )


def check_simulated_window(given: Any, run: Settings, configured: Settings) -> None:
    """The embedded simulator serves the configured window only: name the variables when a
    backfill asks it for other days."""
    if given.simulated and (
        run.start_date < configured.start_date or run.end_date > configured.end_date
    ):
        raise dg.Failure(
            f"{given.source}: days {run.start_date}..{run.end_date} are outside the simulated "
            f"window {configured.start_date}..{configured.end_date}; set AISPEND_START_DATE "
            "and AISPEND_END_DATE to cover them, or give the source its real key or export path"
        )


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
        partitions_def=DAILY_PARTITIONS,
        backfill_policy=BACKFILL_POLICY,
        pool=WRITE_POOL,
    )
    def _assets(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        source_inputs: dg.ResourceParam[SourceInputs],
    ) -> Iterator[Any]:
        configured = load_settings()
        if spec.provider not in configured.providers:
            context.log.info(f"{spec.provider} is not in AISPEND_PROVIDERS; nothing loaded")
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"skipped": "provider disabled by AISPEND_PROVIDERS"}
                )
            return
        given = source_inputs.by_source[spec.name]
        settings, described = run_window(context, spec, configured)
        check_simulated_window(given, settings, configured)
        context.log.info(f"loading {given.describe()} for {described} (UTC days, end exclusive)")
        pipeline = dlt_pipeline(spec.name, settings, settings.dlt_pipelines_dir)
        events = dlt.run(
            context=context,
            # API sources read exactly [start, end): the cursor state is off (`resume_day`)
            dlt_source=source_inputs.build(spec.name, settings, backfill=True),
            dlt_pipeline=pipeline,
        )
        # file sources: `quarantined_rows`, the rows this load set aside in raw_<source>.quarantine
        yield from with_quarantine_counts(events, pipeline)

    return _assets


source_assets = [build_source_assets(spec) for spec in SOURCES.values()]
