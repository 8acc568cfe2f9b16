"""Every data source aispend reads, and where its data comes from on a given run.

An API source is called at its base URL when its key is set, else it is served by the
embedded simulator; an export-file source reads the folder its `*_EXPORT_PATH` names, else
files the simulator writes for the run's window. Keys are read from the environment at run
time and only ever handed to the HTTP client: never logged, never stored in asset metadata.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from dlt.sources import DltSource


@dataclass(frozen=True)
class SourceSpec:
    """One dlt source: its dataset is `raw_<name>`; `provider` is what AISPEND_PROVIDERS names."""

    name: str
    provider: str
    kind: Literal["api", "export"]
    factory: str  # "module:function", imported when first needed
    key_env: str = ""
    url_env: str = ""
    default_url: str = ""
    path_env: str = ""
    # raw table -> bucket-start column (unix seconds), to detect a window reaching back further
    # than anything loaded so far (API sources only)
    cursor_columns: Mapping[str, str] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return f"raw_{self.name}"

    def source_factory(self) -> Callable[..., DltSource]:
        module, function = self.factory.split(":")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "openai",
            "openai",
            "api",
            "ingestion.openai:openai_source",
            key_env="OPENAI_ADMIN_KEY",
            url_env="OPENAI_BASE_URL",
            default_url="https://api.openai.com/v1",
            cursor_columns={"completions_usage": "start_time", "costs": "start_time"},
        ),
        SourceSpec(
            "anthropic",
            "anthropic",
            "api",
            "ingestion.anthropic:anthropic_source",
            key_env="ANTHROPIC_ADMIN_KEY",
            url_env="ANTHROPIC_BASE_URL",
            default_url="https://api.anthropic.com",
            cursor_columns={"messages_usage": "bucket_start", "cost_report": "bucket_start"},
        ),
        SourceSpec(
            "claude_code",
            "anthropic",
            "api",
            "ingestion.anthropic:claude_code_source",
            key_env="ANTHROPIC_ADMIN_KEY",
            url_env="ANTHROPIC_BASE_URL",
            default_url="https://api.anthropic.com",
            cursor_columns={"claude_code_usage": "day_start"},
        ),
        SourceSpec(
            "cursor",
            "cursor",
            "api",
            "ingestion.cursor:cursor_source",
            key_env="CURSOR_API_KEY",
            url_env="CURSOR_BASE_URL",
            default_url="https://api.cursor.com",
            cursor_columns={"usage_events": "day_start"},
        ),
        SourceSpec(
            "aws_cur",
            "aws_bedrock",
            "export",
            "ingestion.aws_cur:aws_cur_source",
            path_env="AWS_CUR_EXPORT_PATH",
        ),
        SourceSpec(
            "gcp_billing",
            "gcp_vertex",
            "export",
            "ingestion.gcp_billing:gcp_billing_source",
            path_env="GCP_BILLING_EXPORT_PATH",
        ),
        SourceSpec(
            "azure_cost",
            "azure_openai",
            "export",
            "ingestion.azure_cost:azure_cost_source",
            path_env="AZURE_COST_EXPORT_PATH",
        ),
        SourceSpec(
            "focus",
            "focus",
            "export",
            "ingestion.focus:focus_source",
            path_env="FOCUS_EXPORT_PATH",
        ),
        SourceSpec(
            "telemetry",
            "telemetry",
            "export",
            "ingestion.telemetry:telemetry_source",
            path_env="TELEMETRY_EXPORT_PATH",
        ),
    )
}

# The simulator's telemetry is per request; at the default scale that is ~150k requests a day.
# `make run` writes every day of the window (the allocation true-up needs each day's shares),
# merged into at most this many records per day (token totals stay exact; request counts
# become per record, see ingestion/telemetry).
SIMULATED_TELEMETRY_DAYS: int | None = None
SIMULATED_TELEMETRY_RECORDS_PER_DAY = 600


def known_providers() -> tuple[str, ...]:
    """Names AISPEND_PROVIDERS accepts, in registry order."""
    return tuple(dict.fromkeys(spec.provider for spec in SOURCES.values()))


@dataclass(frozen=True)
class SourceInput:
    """Where one source reads from on this run."""

    source: str
    simulated: bool
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    export_path: str = ""

    def describe(self) -> str:
        where = self.base_url or self.export_path
        return f"{self.source}: {'simulator' if self.simulated else where}"


@dataclass
class SourceInputs:
    """The inputs of one run, plus the simulator if one had to be started."""

    by_source: dict[str, SourceInput]
    simulator: Any = None

    def build(self, name: str, settings: Any, *, backfill: bool = False) -> DltSource:
        """The dlt source `name`, configured for this run's window and input."""
        spec, given = SOURCES[name], self.by_source[name]
        factory = spec.source_factory()
        if spec.kind == "api":
            return factory(
                api_key=given.api_key,
                base_url=given.base_url,
                start_date=settings.start_date,
                end_date=settings.end_date,
                lookback_days=settings.lookback_days,
                backfill=backfill,
            )
        return factory(
            export_path=given.export_path,
            start_date=settings.start_date,
            end_date=settings.end_date,
        )


def simulator_scale(settings: Any) -> str:
    """The simulator scale of a run (`small` for settings objects without one)."""
    return getattr(settings, "simulator_scale", "small")


def simulated_telemetry_records_per_day(scale: str) -> int:
    """Telemetry records a simulated day is merged into: the small demo keeps its 600, medium
    and large follow the scale (ScaleSpec.telemetry_records_per_day: 8,000 and 60,000)."""
    from ingestion.simulator.org import SCALE_SPECS

    return SCALE_SPECS[scale].telemetry_records_per_day or SIMULATED_TELEMETRY_RECORDS_PER_DAY


def simulator_export_root(settings: Any) -> Path:
    """Where the simulator writes export files for a world (beside the warehouse): one folder
    per seed, start and world end, so with AISPEND_SIMULATOR_WORLD_END set the next day's run
    finds yesterday's files and only the new day's are delivered."""
    scale = simulator_scale(settings)
    suffix = "" if scale == "small" else f"_{scale}"
    world = getattr(settings, "simulator_world_end", None)
    world_part = "" if world is None else "_world"
    return (
        settings.warehouse.parent
        / "simulator_exports"
        / f"seed{settings.simulator_seed}_{settings.start_date}_{world or settings.end_date}"
        f"{world_part}{suffix}"
    )


def is_simulated(settings: Any, provider: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the run's data for `provider` came from the simulator (enabled, and no key or
    export path of its own set): only then does the simulator's ground truth apply to it."""
    env = os.environ if env is None else env
    if provider not in settings.providers:
        return False
    for spec in SOURCES.values():
        if spec.provider != provider:
            continue
        setting = spec.key_env if spec.kind == "api" else spec.path_env
        if env.get(setting, "").strip():
            return False
    return True


@contextmanager
def open_inputs(settings: Any, env: Mapping[str, str] | None = None) -> Iterator[SourceInputs]:
    """Yield the inputs of the enabled sources, starting the simulator for those that need it."""
    env = os.environ if env is None else env
    enabled = [s for s in SOURCES.values() if s.provider in settings.providers]
    inputs: dict[str, SourceInput] = {}
    need_api: list[SourceSpec] = []
    need_files: list[SourceSpec] = []
    for spec in enabled:
        if spec.kind == "api":
            key = env.get(spec.key_env, "").strip()
            if key:
                url = env.get(spec.url_env, "").strip() or spec.default_url
                inputs[spec.name] = SourceInput(spec.name, False, base_url=url, api_key=key)
            else:
                need_api.append(spec)
        else:
            path = env.get(spec.path_env, "").strip()
            if path:
                inputs[spec.name] = SourceInput(spec.name, False, export_path=path)
            else:
                need_files.append(spec)

    if not need_api and not need_files:
        yield SourceInputs(inputs)
        return

    from ingestion.simulator import SimConfig, Simulator
    from ingestion.simulator.faults import FaultPlan, parse_modes

    config = SimConfig(
        seed=settings.simulator_seed,
        start=settings.start_date,
        end=settings.end_date,
        scale=simulator_scale(settings),
        world_end=getattr(settings, "simulator_world_end", None),
    )
    # fault drills on the embedded simulator: AISPEND_SIMULATOR_FAULTS=rate_limit,page_skip
    modes = parse_modes(env.get("AISPEND_SIMULATOR_FAULTS", ""))
    with Simulator(config, faults=FaultPlan(modes) if modes else None) as sim:
        for spec in need_api:
            url, key = simulated_endpoint(sim, config, spec.name)
            inputs[spec.name] = SourceInput(spec.name, True, base_url=url, api_key=key)
        if need_files:
            written = write_simulated_exports(sim, config, simulator_export_root(settings))
            for spec in need_files:
                inputs[spec.name] = SourceInput(
                    spec.name, True, export_path=str(written[spec.name])
                )
        yield SourceInputs(inputs, simulator=sim)


def _written_through(marker: str, stamp: str) -> date | None:
    """The day after the last one a folder's marker says was written with `stamp`."""
    if not marker.startswith(stamp):
        return None
    rest = marker[len(stamp) :].strip()
    if not rest.startswith("through="):
        return None
    try:
        return date.fromisoformat(rest.removeprefix("through="))
    except ValueError:
        return None


def simulated_endpoint(sim: Any, config: Any, source: str) -> tuple[str, str]:
    """(base URL, key) of the simulator for an API source."""
    if source == "openai":
        return sim.openai_base_url, config.openai_key
    if source in ("anthropic", "claude_code"):
        return sim.anthropic_base_url, config.anthropic_key
    if source == "cursor":
        return sim.cursor_base_url, config.cursor_key
    raise KeyError(f"the simulator serves no API for source {source!r}")


def write_simulated_exports(sim: Any, config: Any, root: Path) -> dict[str, Path]:
    """Write the export files the simulator stands in for, once per world and seed.

    The folder's marker says what it was written with and through which day. A later window
    end in the same world delivers only what a provider would: the month files from the last
    delivered month on, and the new days' telemetry files; earlier files keep their bytes and
    times, so the file sources skip them. Anything else rewrites the folder; folders of other
    worlds are removed so the daily schedule does not pile them up.
    """
    import shutil

    from ingestion.simulator.exports import write_exports
    from ingestion.simulator.telemetry import write_telemetry

    done = root / ".complete"
    scale = getattr(config, "scale", "small")
    records_per_day = simulated_telemetry_records_per_day(scale)
    # what the folder was written with: a change (e.g. of the telemetry sampling) rewrites it
    stamp = (
        "written by the aispend simulator; telemetry days="
        f"{SIMULATED_TELEMETRY_DAYS} records/day={records_per_day}"
        + ("" if scale == "small" else f" scale={scale}")
        + "\n"
    )
    complete = f"{stamp}through={config.end.isoformat()}\n"
    written = done.read_text() if done.exists() else ""
    if written != complete:
        through = _written_through(written, stamp)
        # the same world, a later end: deliver only what is new (since that day)
        in_world = getattr(config, "world_end", None) and through is not None
        since = through if in_world and through < config.end else None
        if since is None:
            if root.parent.exists():
                for other in root.parent.iterdir():
                    if other != root and other.is_dir():
                        shutil.rmtree(other, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
        months_from = (since - timedelta(days=1)).strftime("%Y-%m") if since else None
        write_exports(config, root, months_from=months_from)
        write_telemetry(
            sim,
            root,
            sample_per_day=records_per_day,
            recent_days=SIMULATED_TELEMETRY_DAYS,
            days_from=since,
        )
        done.write_text(complete)
    names = ("aws_cur", "gcp_billing", "azure_cost", "focus", "telemetry")
    return {name: root / name for name in names}
