"""`make bench`: how fast aispend is, each figure beside a baseline measured in the same run.

Sections (all by default, `--only` picks some):

* ingestion    the real dlt pipelines of every source into a fresh DuckDB file, rows/s; beside
               it DuckDB reading the same payloads (`read_json`/`read_csv`/`read_parquet`). The
               simulator's serving time (building each API response) is measured apart.
* backfill     `aispend backfill` over `--days` on a fresh warehouse, in a child process (the
               ingestion in runs of 31 daily partitions, as Dagster's backfill splits it, then
               the rest of the graph once): wall time and peak memory of its process tree.
* dbt          `dbt build` per layer (staging, intermediate, marts) on the backfilled warehouse;
               beside it one hand-written DuckDB statement producing the spend per provider,
               day, project, key and model from the raw tables, checked against
               `marts.fct_ai_spend` per provider and per provider-day to the cent.
* forecast     `analytics.forecast.forecast_series` (what the `spend_forecast` asset calls) on
               N series with its worker pool, and with one worker; same numbers required.
* incremental  after a backfill of H days, the next day's daily run (end date one day later,
               same warehouse), at two history lengths.

Prints progress lines while it runs, a table at the end, and writes JSON (machine, versions,
commit, scale, every figure) for comparison across commits. README "Benchmark (`make bench`)".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTIONS = ("ingestion", "backfill", "dbt", "forecast", "incremental")
SCALES = ("small", "medium", "large")
LAYERS = ("staging", "intermediate", "marts")
# a fixed last day (exclusive), so runs on different days and commits see the same data
DEFAULT_END = date(2026, 11, 1)
GIB = 1024**3
# DuckDB's read_json refuses a document over 16 MB unless told otherwise
MAX_JSON_DOCUMENT = 2**31 - 1
# `--quick` (the CI smoke run): a two-week backfill, next-day runs after 7 and 14 days of
# history, and a week's history required of a forecast series so Prophet, not the fallback, fits
QUICK_DAYS = 14
QUICK_HISTORIES = (7, 14)
QUICK_MIN_HISTORY = 7

# the targets of issue 9, as (key, description, comparison, bound)
TARGETS = {
    "incremental_ratio": ("daily run at long history / at short history", "<=", 1.3),
    "backfill_minutes": ("full backfill of a year, minutes", "<", 15.0),
    "backfill_peak_gib": ("peak memory of the backfill, GiB", "<", 6.0),
    "file_ingestion_share": ("file ingestion / DuckDB reading the same files", ">=", 0.25),
    "api_rows_per_s": ("API ingestion rows/s, simulator serving time excluded", ">=", 250_000.0),
    "dbt_ratio": ("dbt model time / hand-written SQL statement", "<=", 3.0),
    "forecast_speedup": ("forecast series/s, worker pool / one worker", ">=", 1.7),
}

# the variables a run reads; the bench sets its own and clears the rest
RUN_ENV = (
    "AISPEND_TARGET",
    "AISPEND_WAREHOUSE",
    "AISPEND_START_DATE",
    "AISPEND_END_DATE",
    "AISPEND_PROVIDERS",
    "AISPEND_LOOKBACK_DAYS",
    "AISPEND_SIMULATOR_FAULTS",
    "AISPEND_SIMULATOR_WORLD_END",
    "AISPEND_SERVING_DIR",
    "AISPEND_REPORTS_DIR",
    "AISPEND_ALERT_STATE",
    "DAGSTER_HOME",
    "OPENAI_ADMIN_KEY",
    "ANTHROPIC_ADMIN_KEY",
    "CURSOR_API_KEY",
    "AWS_CUR_EXPORT_PATH",
    "GCP_BILLING_EXPORT_PATH",
    "AZURE_COST_EXPORT_PATH",
    "FOCUS_EXPORT_PATH",
    "TELEMETRY_EXPORT_PATH",
)

_T0 = time.monotonic()


def say(message: str) -> None:
    """A progress line with the time since the bench started."""
    print(f"[bench {time.monotonic() - _T0:7.1f}s] {message}", flush=True)


class BenchError(RuntimeError):
    """A phase failed: the message says which and where its log is."""


# --------------------------------------------------------------------------------------------
# scale, environment, machine


def scale_supported() -> bool:
    """Whether the simulator has a scale knob (`SimConfig.scale`)."""
    from ingestion.simulator.config import SimConfig

    return "scale" in {f.name for f in fields(SimConfig)}


def check_scale(scale: str) -> None:
    if scale != "small" and not scale_supported():
        raise SystemExit(
            f"bench: --scale {scale} needs the simulator's scale knob (SimConfig.scale, "
            "AISPEND_SIMULATOR_SCALE), which this checkout does not have; only `small` runs here"
        )


def run_env(
    warehouse: Path, start: date, end: date, scale: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of one pipeline run on `warehouse` over [start, end)."""
    env = {k: v for k, v in os.environ.items() if k not in RUN_ENV}
    data = warehouse.parent
    env.update(
        {
            "AISPEND_WAREHOUSE": str(warehouse),
            "AISPEND_START_DATE": start.isoformat(),
            "AISPEND_END_DATE": end.isoformat(),
            "AISPEND_SERVING_DIR": str(data / "serving"),
            "AISPEND_REPORTS_DIR": str(data / "reports"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "DO_NOT_TRACK": "1",
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    if scale_supported():
        env["AISPEND_SIMULATOR_SCALE"] = scale
    env.update(extra or {})
    return env


@contextlib.contextmanager
def patched_environ(env: dict[str, str]) -> Iterator[None]:
    before = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def machine() -> dict[str, Any]:
    import psutil

    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": round(psutil.virtual_memory().total / GIB, 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("dlt", "dbt-core", "dbt-duckdb", "duckdb", "dagster", "prophet", "pandas"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# --------------------------------------------------------------------------------------------
# measuring a child process tree


class TreeSampler:
    """Peak memory of a process and all its descendants, sampled every `every` s.

    The tree's memory is the sum of each process's PSS (resident pages, a page shared by n
    processes counted 1/n in each): forked workers share most of their parent's pages, and
    summing RSS would count those pages once per worker. RSS where PSS cannot be read."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.every = every
        self.peak = 0
        # the one process with the largest RSS seen, to say where the memory went
        self.top_rss = 0
        self.top_process = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except self._psutil.Error:
            return 0
        for proc in procs:
            with contextlib.suppress(self._psutil.Error):
                rss = proc.memory_info().rss
                try:
                    total += proc.memory_full_info().pss
                except (self._psutil.Error, AttributeError):
                    total += rss
                if rss > self.top_rss:
                    self.top_rss = rss
                    self.top_process = " ".join(proc.cmdline())[:160]
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.every)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_child(cmd: Sequence[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> dict:
    """Run a command, its output to `log`; wall seconds and peak RSS of its process tree."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
    elapsed = time.monotonic() - started
    return {
        "seconds": elapsed,
        "peak_rss_bytes": sampler.peak,
        "largest_process_rss_bytes": sampler.top_rss,
        "largest_process": sampler.top_process,
        "returncode": rc,
        "log": str(log),
    }


def aispend_run(
    warehouse: Path,
    start: date,
    end: date,
    scale: str,
    log: Path,
    label: str,
    world_end: date | None = None,
    command: str = "run",
) -> dict[str, Any]:
    """The whole daily job (`aispend run`) in a child process; fails the bench if it fails.
    `command="backfill"`: `aispend backfill`, the ingestion in runs of 31 days as Dagster's
    backfill makes them, then the rest of the graph once.

    `world_end`: the simulated world's end (AISPEND_SIMULATOR_WORLD_END), fixed across a
    backfill and the next day's run so the next day sees the same past and only the new
    day's files are delivered, as from a real provider."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    extra = {"AISPEND_SIMULATOR_WORLD_END": world_end.isoformat()} if world_end else None
    env = run_env(warehouse, start, end, scale, extra)
    written = None
    if command == "backfill":
        say(f"{label}: the simulator writes the window's export files first (not timed)")
        written = write_exports_first(env)
        say(f"{label}: export files written in {written:.1f} s")
    timings = log.with_suffix(".steps.json")
    timings.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "orchestration.cli", command, "--log-level", "WARNING",
        "--timings-json", str(timings),
    ]  # fmt: skip
    say(f"{label}: aispend {command} {start}..{end} ({(end - start).days} days) → {log}")
    out = run_child(cmd, env, log)
    if out["returncode"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchError(
            f"{label}: aispend {command} exited {out['returncode']} (log {log}):\n{tail}"
        )
    say(
        f"{label}: {out['seconds']:.1f} s, peak memory {out['peak_rss_bytes'] / GIB:.2f} GiB "
        f"(process tree; largest process {out['largest_process_rss_bytes'] / GIB:.2f} GiB: "
        f"{out['largest_process'][:80]})"
    )
    steps = json.loads(timings.read_text())["steps"] if timings.exists() else {}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": (end - start).days,
        "command": command,
        "simulator_export_write_seconds": written,
        **out,
        "steps": steps,
    }


def write_exports_first(env: dict[str, str]) -> float:
    """Seconds the embedded simulator takes to write the export files of a run's window, in
    this process, where the run will find them (it then writes nothing): a provider's files
    exist before a backfill reads them, so the backfill's figure is the pipeline's alone.
    Opens the run's own inputs (`open_inputs`), so the folder and world are the run's."""
    from orchestration.settings import load_settings
    from orchestration.sources import open_inputs

    with patched_environ(env):
        settings = load_settings()
        t0 = time.perf_counter()
        with open_inputs(settings):
            pass
        return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# ingestion


def _recorder_class() -> type:
    """A simulator `Faults` hook that injects nothing: it times how long the simulator takes
    to build each response (serving, not the pipeline) and keeps each body for the baseline."""
    from ingestion.simulator.server import Faults

    class Recorder(Faults):
        def __init__(self, capture: Path) -> None:
            self.capture = capture
            self.source = "none"
            self.seconds: dict[str, float] = {}
            self.pages: dict[str, int] = {}
            self._local = threading.local()
            self._lock = threading.Lock()

        def before(self, provider: str, path: str, params: Any) -> Any:
            self._local.t0 = time.perf_counter()
            return None

        def after(self, provider: str, path: str, response: Any) -> Any:
            t0 = getattr(self._local, "t0", None)
            elapsed = time.perf_counter() - t0 if t0 is not None else 0.0
            self._local.t0 = None
            status, _, body = response
            with self._lock:
                self.seconds[self.source] = self.seconds.get(self.source, 0.0) + elapsed
                n = self.pages.get(self.source, 0) + 1
                self.pages[self.source] = n
            if status == 200 and body[:1] == b"{":
                endpoint = path.strip("/").replace("/", "_") or "root"
                folder = self.capture / self.source / endpoint
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{n:06d}.json").write_bytes(body)
            return response

    return Recorder


def _flatten_sql(con: Any, table: str, lists: Sequence[str]) -> str:
    """Unnest the record lists of a page (`data`, then e.g. `results`) down to the records."""
    current = table
    for step in range(6):
        described = con.execute(f"describe select * from {current}").fetchall()
        types = {row[0]: row[1] for row in described}
        name = next((c for c in lists if c in types and "STRUCT(" in types[c]), None)
        if name is None:
            return current
        depth = 2 if types[name].endswith("[]") else 1
        current = f'(select unnest("{name}", max_depth := {depth}) from {current}) as t{step}'
    return current


def duckdb_read_api_pages(folder: Path) -> tuple[int, float, int]:
    """(rows, seconds, files): DuckDB reading the captured pages, one `read_json` per endpoint,
    and unnesting them to records."""
    import duckdb

    endpoints = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
    started = time.perf_counter()
    con = duckdb.connect()
    rows = files = 0
    for i, endpoint in enumerate(endpoints):
        pages = sorted(str(p) for p in endpoint.glob("*.json"))
        files += len(pages)
        con.execute(
            f"create table p{i} as select * from read_json(?, format = 'auto', "
            "union_by_name = true, maximum_object_size = 268435456)",
            [pages],
        )
        flat = _flatten_sql(con, f"p{i}", ("data", "results", "usageEvents", "teamMembers"))
        con.execute(f"create table r{i} as select * from {flat}")
        rows += int(con.execute(f"select count(*) from r{i}").fetchone()[0])
    con.close()
    return rows, time.perf_counter() - started, files


def duckdb_read_files(folder: Path) -> tuple[int, float, int]:
    """(rows, seconds, files): DuckDB reading every data file of an export folder into tables."""
    import duckdb

    kinds: dict[str, list[str]] = {"csv": [], "parquet": [], "jsonl": [], "json": []}
    for path in sorted(folder.rglob("*")):
        name = path.name.lower()
        if not path.is_file() or "manifest" in name or name.startswith("."):
            continue
        if name.endswith((".csv", ".csv.gz")):
            kinds["csv"].append(str(path))
        elif name.endswith(".parquet"):
            kinds["parquet"].append(str(path))
        elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            kinds["jsonl"].append(str(path))
        elif name.endswith((".json", ".json.gz")):
            kinds["json"].append(str(path))
    started = time.perf_counter()
    con = duckdb.connect()
    rows = 0
    # files of one folder share their columns, files of two folders (Azure EA/MCA) may not
    groups: dict[tuple[str, Path], list[str]] = {}
    for kind, files in kinds.items():
        for f in files:
            groups.setdefault((kind, Path(f).parent), []).append(f)
    for i, ((kind, _), files) in enumerate(sorted(groups.items())):
        if kind == "csv":
            reader = "read_csv(?, union_by_name = true, all_varchar = false)"
        elif kind == "parquet":
            reader = "read_parquet(?, union_by_name = true)"
        elif kind == "jsonl":
            reader = "read_json(?, format = 'newline_delimited', union_by_name = true)"
        else:  # an OTLP/JSON file is one document: at large a day's is over 32 MB
            reader = (
                "read_json(?, format = 'auto', union_by_name = true, "
                f"maximum_object_size = {MAX_JSON_DOCUMENT})"
            )
        con.execute(f"create table f{i} as select * from {reader}", [files])
        if kind == "json":  # OTLP/JSON: resourceSpans → scopeSpans → spans
            flat = _flatten_sql(con, f"f{i}", ("resourceSpans", "scopeSpans", "spans"))
            con.execute(f"create table g{i} as select * from {flat}")
            rows += int(con.execute(f"select count(*) from g{i}").fetchone()[0])
        else:
            rows += int(con.execute(f"select count(*) from f{i}").fetchone()[0])
    con.close()
    return rows, time.perf_counter() - started, sum(len(v) for v in kinds.values())


def _step_seconds(pipeline: Any) -> dict[str, float]:
    trace = pipeline.last_trace
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", []) or []:
        if step.step in ("extract", "normalize", "load") and step.finished_at and step.started_at:
            out[step.step] = (step.finished_at - step.started_at).total_seconds()
    return out


def bench_ingestion(work: Path, start: date, end: date, scale: str) -> dict[str, Any]:
    """Every source through its real dlt pipeline into a fresh DuckDB file."""
    from ingestion.simulator import SimConfig, Simulator
    from orchestration.settings import load_settings
    from orchestration.sources import (
        SOURCES,
        SourceInput,
        SourceInputs,
        simulated_endpoint,
        write_simulated_exports,
    )
    from orchestration.warehouse import dlt_pipeline

    warehouse = work / "ingestion" / "warehouse.duckdb"
    shutil.rmtree(warehouse.parent, ignore_errors=True)
    warehouse.parent.mkdir(parents=True)
    capture = work / "ingestion" / "api_pages"
    env = run_env(warehouse, start, end, scale)
    out: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "sources": {}}
    with patched_environ(env):
        settings = load_settings()
        kwargs: dict[str, Any] = {"seed": settings.simulator_seed, "start": start, "end": end}
        if scale_supported():
            kwargs["scale"] = scale
        config = SimConfig(**kwargs)
        recorder = _recorder_class()(capture)
        with Simulator(config, faults=recorder) as sim:
            inputs: dict[str, SourceInput] = {}
            for spec in SOURCES.values():
                if spec.kind == "api":
                    url, key = simulated_endpoint(sim, config, spec.name)
                    inputs[spec.name] = SourceInput(spec.name, True, base_url=url, api_key=key)
            say(f"ingestion: the simulator writes the export files for {start}..{end}")
            t0 = time.perf_counter()
            from orchestration.sources import simulator_export_root

            written = write_simulated_exports(sim, config, simulator_export_root(settings))
            out["simulator_export_write_seconds"] = time.perf_counter() - t0
            for spec in SOURCES.values():
                if spec.kind == "export":
                    inputs[spec.name] = SourceInput(
                        spec.name, True, export_path=str(written[spec.name])
                    )
            source_inputs = SourceInputs(inputs, simulator=sim)
            for spec in SOURCES.values():
                recorder.source = spec.name
                pipeline = dlt_pipeline(spec.name, settings, settings.dlt_pipelines_dir)
                source = source_inputs.build(spec.name, settings, backfill=True)
                log = work / "logs" / f"ingest_{spec.name}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("w") as sink, contextlib.redirect_stdout(sink):
                    t0 = time.perf_counter()
                    pipeline.run(source)
                    seconds = time.perf_counter() - t0
                counts = pipeline.last_trace.last_normalize_info.row_counts
                rows = sum(n for table, n in counts.items() if not table.startswith("_dlt"))
                entry: dict[str, Any] = {
                    "kind": spec.kind,
                    "rows": rows,
                    "seconds": seconds,
                    "rows_per_s": rows / seconds if seconds else 0.0,
                    "steps": _step_seconds(pipeline),
                }
                if spec.kind == "api":
                    serving = recorder.seconds.get(spec.name, 0.0)
                    entry["simulator_serving_seconds"] = serving
                    entry["simulator_pages"] = recorder.pages.get(spec.name, 0)
                    net = max(seconds - serving, 1e-9)
                    entry["rows_per_s_without_serving"] = rows / net
                out["sources"][spec.name] = entry
                say(
                    f"ingestion: {spec.name:<12} {rows:>9,} rows in {seconds:6.2f} s "
                    f"({entry['rows_per_s']:,.0f} rows/s)"
                )
    # baselines: DuckDB reading the same payloads, after the pipelines (nothing else running)
    for name, entry in out["sources"].items():
        if entry["kind"] == "api":
            rows, seconds, files = duckdb_read_api_pages(capture / name)
        else:
            rows, seconds, files = duckdb_read_files(Path(inputs[name].export_path))
        entry["baseline"] = {
            "what": "DuckDB read_json of the captured pages"
            if entry["kind"] == "api"
            else "DuckDB read_csv/read_parquet/read_json of the export files",
            "files": files,
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds if seconds else 0.0,
        }
        # the same payload both ways: the ratio of times (rows counted differently, e.g. dlt
        # makes a row per Claude Code record and model, DuckDB one per record)
        net = entry["seconds"] - entry.get("simulator_serving_seconds", 0.0)
        entry["ratio_to_baseline"] = seconds / net if net > 0 else None
        say(
            f"ingestion baseline: {name:<12} {rows:>9,} rows in {seconds:6.2f} s "
            f"({entry['baseline']['rows_per_s']:,.0f} rows/s)"
        )

    def total(kind: str) -> dict[str, float]:
        chosen = [e for e in out["sources"].values() if e["kind"] == kind]
        rows = sum(e["rows"] for e in chosen)
        seconds = sum(e["seconds"] for e in chosen)
        serving = sum(e.get("simulator_serving_seconds", 0.0) for e in chosen)
        b_rows = sum(e["baseline"]["rows"] for e in chosen)
        b_seconds = sum(e["baseline"]["seconds"] for e in chosen)
        net = max(seconds - serving, 1e-9)
        return {
            "rows": rows,
            "seconds": seconds,
            "simulator_serving_seconds": serving,
            "rows_per_s": rows / seconds if seconds else 0.0,
            "rows_per_s_without_serving": rows / net,
            "baseline_rows_per_s": b_rows / b_seconds if b_seconds else 0.0,
            "baseline_seconds": b_seconds,
            "ratio_to_baseline": b_seconds / net,
        }

    out["api"] = total("api")
    out["files"] = total("export")
    return out


# --------------------------------------------------------------------------------------------
# dbt


# The spend fact's money from the raw tables in one statement: what dbt's staging →
# intermediate → marts chain produces per provider, day, project, key and model, written by hand.
# Bills only (usage without a bill adds no money), converted at the export's own rate or the
# fx_rates seed of the day, as int_spend_lines_unioned does.
BASELINE_SQL = """
create or replace table main.bench_spend_baseline as
with fx as (
    select upper(currency) as currency, cast(valid_from as date) as valid_from,
        lead(cast(valid_from as date)) over (partition by upper(currency) order by valid_from)
            as valid_to,
        cast(usd_per_unit as decimal(38, 12)) as usd_per_unit
    from reference.fx_rates
),
focus as (
    select cast(left(cast(charge_period_start as varchar), 10) as date) as usage_date,
        case
            when provider_name in ('Microsoft', 'Azure', 'Microsoft Azure') then 'azure_openai'
            when provider_name in ('AWS', 'Amazon Web Services') then 'aws_bedrock'
            when provider_name in ('Google Cloud', 'Google', 'GCP') then 'gcp_vertex'
        end as provider,
        sub_account_id as project_id, null as api_key_id, sku_meter as model,
        upper(billing_currency) as currency, cast(billed_cost as decimal(38, 12)) as cost,
        cast(null as decimal(38, 12)) as own_rate
    from raw_focus.focus_rows
    where service_category = 'AI and Machine Learning'
),
lines as (
    select cast(to_timestamp(start_time) at time zone 'UTC' as date) as usage_date,
        'openai' as provider, project_id, api_key_id, split_part(line_item, ', ', 1) as model,
        upper(amount_currency) as currency, cast(amount_value as decimal(38, 12)) as cost,
        cast(null as decimal(38, 12)) as own_rate
    from raw_openai.costs
    union all
    select cast(to_timestamp(bucket_start) at time zone 'UTC' as date), 'anthropic',
        workspace_id, null, model, upper(currency),
        cast(amount_cents * 0.01 as decimal(38, 12)), null
    from raw_anthropic.cost_report
    union all
    select cast(usage_date as date), 'cursor', null, null, model, 'USD',
        cast(coalesce(charged_cents, 0) / 100 as decimal(38, 12)), null
    from raw_cursor.usage_events
    union all
    select cast(left(line_item_usage_start_date, 10) as date), 'aws_bedrock',
        line_item_usage_account_id, null, line_item_usage_type,
        upper(line_item_currency_code), cast(line_item_unblended_cost as decimal(38, 12)), null
    from raw_aws_cur.cur_line_items
    where line_item_product_code = 'AmazonBedrock'
        or (bill_billing_entity = 'AWS Marketplace'
            and (json_extract_string(product, '$.product_name') ilike '%bedrock%'
                or regexp_matches(coalesce(line_item_usage_type, ''), 'MP:.*Token', 'i')))
    union all
    select cast(left(usage_start_time, 10) as date), 'gcp_vertex', project_id, null,
        sku_description, upper(currency),
        cast(cost as decimal(38, 12)) + cast(coalesce(credits_total, 0) as decimal(38, 12)),
        case when currency_conversion_rate > 0
            then cast(1 / currency_conversion_rate as decimal(38, 12)) end
    from raw_gcp_billing.billing_export
    where service_description in ('Vertex AI', 'Generative Language API')
        or service_description ilike '%claude%'
    union all
    select cast(date as date), 'azure_openai', subscription_id, null, meter_name,
        upper(billing_currency), cast(cost_in_billing_currency as decimal(38, 12)),
        case when cost_in_usd is not null and cost_in_billing_currency != 0
            then cast(cost_in_usd / cost_in_billing_currency as decimal(38, 12)) end
    from raw_azure_cost.cost_details
    where (meter_category = 'Cognitive Services' and meter_sub_category ilike 'Azure OpenAI%')
        or product_name ilike 'Azure OpenAI%'
    union all
    select * from focus where provider is not null
)
select lines.usage_date, lines.provider, lines.project_id, lines.api_key_id, lines.model,
    lines.currency as billing_currency,
    cast(sum(lines.cost) as decimal(38, 12)) as billed_cost,
    cast(sum(cast(lines.cost * case when lines.currency = 'USD' then 1
        else coalesce(lines.own_rate, fx.usd_per_unit) end as decimal(38, 12)))
        as decimal(38, 12)) as billed_cost_usd
from lines
left join fx on lines.currency = fx.currency and lines.usage_date >= fx.valid_from
    and (fx.valid_to is null or lines.usage_date < fx.valid_to)
group by all
"""


def dbt_command(args: Sequence[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """One dbt invocation in the project folder: wall seconds, and per node type the seconds
    dbt itself reports (run_results.json)."""
    from orchestration.settings import DBT_PROJECT_DIR

    dbt = str(Path(sys.executable).parent / "dbt")
    # its own target folder: the project's manifest (read by Dagster) is left alone
    target = log.parent.parent / "dbt_target"
    cmd = [dbt, *args, "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
    cmd += ["--log-path", str(log.parent / "dbt_logs")]
    out = run_child(cmd, env, log, cwd=DBT_PROJECT_DIR)
    if out["returncode"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchError(f"dbt {' '.join(args)} exited {out['returncode']} (log {log}):\n{tail}")
    results = target / "run_results.json"
    by_type: dict[str, float] = {}
    counts: dict[str, int] = {}
    if results.exists() and args[0] != "parse":
        for node in json.loads(results.read_text()).get("results", []):
            kind = node["unique_id"].split(".")[0]
            by_type[kind] = by_type.get(kind, 0.0) + float(node.get("execution_time") or 0.0)
            counts[kind] = counts.get(kind, 0) + 1
    return {"seconds": out["seconds"], "node_seconds": by_type, "nodes": counts}


def bench_dbt(work: Path, warehouse: Path, start: date, end: date, scale: str) -> dict[str, Any]:
    """`dbt build` per layer on the loaded warehouse, and the one-statement baseline."""
    import duckdb

    from orchestration.settings import load_settings

    env = run_env(warehouse, start, end, scale)
    with patched_environ(env):
        env.update(load_settings().dbt_env())
    logs = work / "logs"
    out: dict[str, Any] = {"layers": {}}
    say("dbt: parse (not timed as a layer)")
    out["parse_seconds"] = dbt_command(["parse", "--quiet"], env, logs / "dbt_parse.log")["seconds"]
    for layer in LAYERS:
        result = dbt_command(
            ["build", "--select", f"path:models/{layer}"], env, logs / f"dbt_build_{layer}.log"
        )
        out["layers"][layer] = result
        models = result["node_seconds"].get("model", 0.0)
        tests = result["node_seconds"].get("test", 0.0) + result["node_seconds"].get(
            "unit_test", 0.0
        )
        say(
            f"dbt: build {layer:<12} {result['seconds']:6.1f} s wall "
            f"({result['nodes'].get('model', 0)} models {models:.1f} s, "
            f"{result['nodes'].get('test', 0)} tests {tests:.1f} s)"
        )
    out["models_seconds"] = sum(v["node_seconds"].get("model", 0.0) for v in out["layers"].values())
    out["build_wall_seconds"] = sum(v["seconds"] for v in out["layers"].values())

    con = duckdb.connect(str(warehouse))
    try:
        con.execute(BASELINE_SQL)  # warm the file's pages as dbt had them warm
        started = time.perf_counter()
        con.execute(BASELINE_SQL)
        out["baseline_seconds"] = time.perf_counter() - started
        out["baseline_rows"] = int(
            con.execute("select count(*) from main.bench_spend_baseline").fetchone()[0]
        )
        got = dict(
            con.execute(
                "select provider, sum(billed_cost_usd) from main.bench_spend_baseline group by 1"
            ).fetchall()
        )
        want = dict(
            con.execute(
                "select provider, sum(billed_cost_usd) from marts.fct_ai_spend group by 1"
            ).fetchall()
        )
        # and per provider and day, to the cent
        out["baseline_days_differing"] = int(
            con.execute(
                "with a as (select provider, usage_date, round(sum(billed_cost_usd), 2) as v "
                "from main.bench_spend_baseline group by all), "
                "b as (select provider, usage_date, round(sum(billed_cost_usd), 2) as v "
                "from marts.fct_ai_spend group by all) "
                "select count(*) from a full join b using (provider, usage_date) "
                "where a.v is distinct from b.v"
            ).fetchone()[0]
        )
        con.execute("drop table main.bench_spend_baseline")
    finally:
        con.close()
    cent = Decimal("0.01")
    check = {}
    for provider in sorted(set(got) | set(want)):
        a = Decimal(got.get(provider) or 0).quantize(cent)
        b = Decimal(want.get(provider) or 0).quantize(cent)
        check[provider] = {"baseline_usd": str(a), "fct_ai_spend_usd": str(b), "equal": a == b}
    out["baseline_check"] = check
    out["baseline_matches"] = (
        all(v["equal"] for v in check.values()) and out["baseline_days_differing"] == 0
    )
    out["ratio_models_to_baseline"] = (
        out["models_seconds"] / out["baseline_seconds"] if out["baseline_seconds"] else None
    )
    out["ratio_build_wall_to_baseline"] = (
        out["build_wall_seconds"] / out["baseline_seconds"] if out["baseline_seconds"] else None
    )
    say(
        f"dbt: hand-written statement {out['baseline_seconds']:.2f} s, "
        f"{out['baseline_rows']:,} rows; USD per provider and per provider-day "
        f"{'equal' if out['baseline_matches'] else 'DIFFER'} to the cent"
    )
    if not out["baseline_matches"]:
        for provider, v in check.items():
            if not v["equal"]:
                say(f"dbt: baseline {provider}: {v['baseline_usd']} vs fct {v['fct_ai_spend_usd']}")
    return out


# --------------------------------------------------------------------------------------------
# forecasts


def bench_forecast(
    warehouse: Path, start: date, end: date, scale: str, n_series: int, quick: bool
) -> dict[str, Any]:
    """`forecast_series` on N series (0: all, as the daily run) with its default worker pool
    and with one worker, back to back in this process; same numbers required.

    Prophet is imported first and timed apart: a daily run pays it in either mode (in-process,
    or once before forking the workers). The pool's figure includes starting its workers, as
    the daily run's first call does. Beside it, the same two-process/one-process ratio for
    pure CPU work (`cpu_parallelism`): what this machine gave two processes at that moment
    (below ~1.9 the cores were shared with other work, and no pool can do better).
    """
    from concurrent.futures import ProcessPoolExecutor

    import pandas as pd

    from analytics.forecast import ForecastConfig, _quiet_stan, _start_method, forecast_series
    from analytics.series import build_series, load_spend_lines
    from orchestration.settings import load_settings
    from orchestration.warehouse import connect

    with patched_environ(run_env(warehouse, start, end, scale)):
        settings = load_settings()
        with connect(settings, read_only=True) as con:
            lines = load_spend_lines(con, start, end)
    series = build_series(lines, start, end)
    ids = sorted(series["series_id"].unique())
    # biggest series first (they are what a budget watches), then in name order
    totals = series.groupby("series_id")["cost"].sum().sort_values(ascending=False)
    chosen = list(totals.index[:n_series]) if n_series else ids
    frame = series[series["series_id"].isin(chosen)]
    # a quick run has too little history for Prophet's default of 56 days: lower the bar so
    # the fits being timed are Prophet fits, not the seasonal-naive fallback
    base = ForecastConfig(min_history_days=QUICK_MIN_HISTORY) if quick else ForecastConfig()
    out: dict[str, Any] = {"series": len(chosen), "series_available": len(ids)}
    if quick:
        out["min_history_days"] = QUICK_MIN_HISTORY
    t0 = time.perf_counter()
    with _quiet_stan():
        pass
    out["prophet_import_seconds"] = time.perf_counter() - t0
    out["start_method"] = _start_method(base.mp_context)
    runs = {}
    for label, config in (
        ("sequential", replace(base, workers=1)),
        ("pool", base),
    ):
        say(f"forecast: {len(chosen)} series, {label} ({config.n_workers()} worker(s))")
        t0 = time.perf_counter()
        result = forecast_series(frame, as_of=end, config=config)
        seconds = time.perf_counter() - t0
        runs[label] = result
        out[label] = {
            "workers": config.n_workers(),
            "seconds": seconds,
            "series_per_s": len(chosen) / seconds if seconds else 0.0,
            "methods": {
                str(k): int(v) for k, v in result.month_end["method"].value_counts().items()
            },
        }
        say(f"forecast: {label} {seconds:.1f} s ({out[label]['series_per_s']:.2f} series/s)")
    a, b = runs["pool"], runs["sequential"]
    same = True
    diff = 0.0
    for name in ("daily", "month_end"):
        x, y = getattr(a, name), getattr(b, name)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        except AssertionError:
            same = False
            numeric = x.select_dtypes("number").columns
            if len(numeric):
                diff = max(diff, float((x[numeric] - y[numeric]).abs().max().max()))
    out["results_equal"] = same
    out["max_abs_difference"] = diff
    out["speedup"] = out["pool"]["series_per_s"] / out["sequential"]["series_per_s"]
    # the same ratio for pure CPU work (C loops), measured right after
    work = [range(4_000_000)] * 6
    t0 = time.perf_counter()
    for r in work:
        sum(r)
    one = time.perf_counter() - t0
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(sum, work[:2]))  # workers started before timing
        t0 = time.perf_counter()
        list(pool.map(sum, work))
        two = time.perf_counter() - t0
    out["cpu_parallelism"] = one / two if two else 0.0
    say(
        f"forecast: speed-up {out['speedup']:.2f}x ({out['start_method']}); results "
        f"{'identical' if same else f'differ (max {diff:g})'}; pure CPU work got "
        f"{out['cpu_parallelism']:.2f}x from two processes"
    )
    return out


# --------------------------------------------------------------------------------------------
# the whole run


def check_target(key: str, value: float | None) -> dict[str, Any]:
    description, op, bound = TARGETS[key]
    if value is None:
        return {"description": description, "target": f"{op} {bound:g}", "value": None}
    ok = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
    return {
        "description": description,
        "target": f"{op} {bound:g}",
        "value": value,
        "met": bool(ok),
        # how far from the bound, as a ratio (>1 = better than the target)
        "margin": (bound / value if op in ("<=", "<") else value / bound) if value else None,
    }


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    inc = results.get("incremental")
    if inc:
        out["incremental_ratio"] = check_target("incremental_ratio", inc.get("ratio"))
        short, long = sorted(int(h) for h in inc["runs"])
        if (short, long) != (30, 365):  # a quick run: a figure, not a verdict
            out["incremental_ratio"].pop("met", None)
            out["incremental_ratio"]["note"] = f"histories {short}/{long}; the target is 30/365"
    back = results.get("backfill")
    if back:
        out["backfill_minutes"] = check_target("backfill_minutes", back["seconds"] / 60)
        if back["days"] < 365:
            out["backfill_minutes"].pop("met", None)
            out["backfill_minutes"]["note"] = f"{back['days']} days; the target is for 365"
        out["backfill_peak_gib"] = check_target("backfill_peak_gib", back["peak_rss_bytes"] / GIB)
    ing = results.get("ingestion")
    if ing:
        out["file_ingestion_share"] = check_target(
            "file_ingestion_share", ing["files"]["ratio_to_baseline"]
        )
        out["api_rows_per_s"] = check_target(
            "api_rows_per_s", ing["api"]["rows_per_s_without_serving"]
        )
    dbt = results.get("dbt")
    if dbt:
        out["dbt_ratio"] = check_target("dbt_ratio", dbt["ratio_models_to_baseline"])
    fc = results.get("forecast")
    if fc:
        out["forecast_speedup"] = check_target("forecast_speedup", fc["speedup"])
    return out


def _step_growth(runs: dict[str, Any], top: int = 8) -> list[str]:
    """The next day's run step by step at both histories: which steps grow with history."""
    short, long = sorted(runs, key=int)
    a, b = runs[short].get("steps") or {}, runs[long].get("steps") or {}
    if not a or not b:
        return []
    growth = sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0.0) - a.get(k, 0.0)))[:top]
    lines = [
        f"steps that grow most with history (next day's run, {short} vs {long} days)",
        f"{'step':<40}{short + ' d s':>10}{long + ' d s':>10}{'+s':>9}{'ratio':>8}",
    ]
    for k in growth:
        x, y = a.get(k, 0.0), b.get(k, 0.0)
        lines.append(
            f"{k[:39]:<40}{x:>10.1f}{y:>10.1f}{y - x:>9.1f}{_fmt(y / x if x else None, '.2f'):>8}"
        )
    lines.append(
        f"{'all steps (summed)':<40}{sum(a.values()):>10.1f}{sum(b.values()):>10.1f}"
        f"{sum(b.values()) - sum(a.values()):>9.1f}"
    )
    return lines


def _fmt(value: Any, spec: str = ",.1f") -> str:
    if value is None:
        return "—"
    return format(value, spec)


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        "",
        "=" * 96,
        f"aispend bench — scale {meta['scale']}{' (quick)' if meta['quick'] else ''}, "
        f"commit {meta['commit_short'] or '?'}{' (dirty)' if meta['dirty'] else ''}, "
        f"{m['cores']} cores, {m['ram_gib']} GiB RAM, window ends {meta['end_date']}",
        "=" * 96,
    ]
    ing = results.get("ingestion")
    if ing:
        lines += [
            "",
            f"INGESTION {ing['start']}..{ing['end']} (dlt into a fresh DuckDB file)",
            f"{'source':<13}{'rows':>10}{'seconds':>9}{'rows/s':>11}{'serve s':>9}"
            f"{'rows/s net':>12}{'DuckDB rows/s':>15}{'ratio':>8}  extract/normalize/load s",
        ]
        for name, e in ing["sources"].items():
            steps = e.get("steps", {})
            lines.append(
                f"{name:<13}{e['rows']:>10,}{e['seconds']:>9.2f}{e['rows_per_s']:>11,.0f}"
                f"{_fmt(e.get('simulator_serving_seconds'), '.2f'):>9}"
                f"{_fmt(e.get('rows_per_s_without_serving'), ',.0f'):>12}"
                f"{e['baseline']['rows_per_s']:>15,.0f}{_fmt(e['ratio_to_baseline'], '.3f'):>8}  "
                + "/".join(f"{steps.get(s, 0):.2f}" for s in ("extract", "normalize", "load"))
            )
        for label, key in (("API total", "api"), ("files total", "files")):
            t = ing[key]
            lines.append(
                f"{label:<13}{t['rows']:>10,}{t['seconds']:>9.2f}{t['rows_per_s']:>11,.0f}"
                f"{t['simulator_serving_seconds']:>9.2f}{t['rows_per_s_without_serving']:>12,.0f}"
                f"{t['baseline_rows_per_s']:>15,.0f}{t['ratio_to_baseline']:>8.3f}"
            )
        lines.append(
            f"(simulator wrote the export files in {ing['simulator_export_write_seconds']:.1f} s;"
            " serve s = time the simulator spent building API responses, rows/s net excludes it;"
            " ratio = DuckDB's seconds / the pipeline's net seconds for the same payload)"
        )
    back = results.get("backfill")
    if back:
        lines += [
            "",
            f"FULL BACKFILL {back['start']}..{back['end']} ({back['days']} days, whole daily job, "
            f"`aispend {back.get('command', 'run')}`)",
            f"wall {back['seconds']:.1f} s ({back['seconds'] / 60:.2f} min), peak memory "
            f"{back['peak_rss_bytes'] / GIB:.2f} GiB (process tree, sampled); largest process "
            f"{back.get('largest_process_rss_bytes', 0) / GIB:.2f} GiB "
            f"{back.get('largest_process', '')[:60]}",
        ]
        if back.get("simulator_export_write_seconds") is not None:
            lines.append(
                f"(before it, not counted: the simulator wrote the window's export files in "
                f"{back['simulator_export_write_seconds']:.1f} s, as a provider's files exist "
                "before a backfill)"
            )
    dbt = results.get("dbt")
    if dbt:
        lines += [
            "",
            "DBT BUILD PER LAYER (on the backfilled warehouse)",
            f"{'layer':<14}{'wall s':>9}{'models':>8}{'model s':>9}{'tests':>7}{'test s':>9}",
        ]
        for layer, r in dbt["layers"].items():
            ns, nc = r["node_seconds"], r["nodes"]
            lines.append(
                f"{layer:<14}{r['seconds']:>9.1f}{nc.get('model', 0):>8}"
                f"{ns.get('model', 0.0):>9.1f}{nc.get('test', 0):>7}{ns.get('test', 0.0):>9.1f}"
            )
        lines.append(
            f"{'total':<14}{dbt['build_wall_seconds']:>9.1f}{'':>8}{dbt['models_seconds']:>9.1f}"
        )
        lines.append(
            f"hand-written DuckDB statement: {dbt['baseline_seconds']:.2f} s "
            f"({dbt['baseline_rows']:,} rows; USD per provider and day "
            f"{'equal to fct_ai_spend to the cent' if dbt['baseline_matches'] else 'DIFFERS'}); "
            f"models/statement {_fmt(dbt['ratio_models_to_baseline'], '.1f')}x, "
            f"build wall/statement {_fmt(dbt['ratio_build_wall_to_baseline'], '.1f')}x "
            f"(dbt parse {dbt['parse_seconds']:.1f} s)"
        )
    fc = results.get("forecast")
    if fc:
        lines += [
            "",
            f"FORECASTS ({fc['series']} of {fc['series_available']} series)",
            f"{'mode':<14}{'workers':>8}{'seconds':>9}{'series/s':>10}  methods",
        ]
        for label in ("pool", "sequential"):
            r = fc[label]
            lines.append(
                f"{label:<14}{r['workers']:>8}{r['seconds']:>9.1f}{r['series_per_s']:>10.2f}  "
                + ", ".join(f"{k} {v}" for k, v in r["methods"].items())
            )
        lines.append(
            f"speed-up {fc['speedup']:.2f}x; results "
            + ("identical" if fc["results_equal"] else f"differ (max {fc['max_abs_difference']:g})")
        )
    inc = results.get("incremental")
    if inc:
        lines += ["", "DAILY INCREMENTAL (next day's run after a backfill of H days)"]
        lines.append(
            f"{'history':<14}{'backfill s':>11}{'next day s':>11}{'peak GiB':>10}"
            "  largest process GiB"
        )
        for h, r in inc["runs"].items():
            top = r.get("largest_process_rss_bytes", 0) / GIB
            lines.append(
                f"{h + ' days':<14}{r['backfill_seconds']:>11.1f}{r['seconds']:>11.1f}"
                f"{r['peak_rss_bytes'] / GIB:>10.2f}  {top:.2f} {r.get('largest_process', '')[:60]}"
            )
        lines.append(f"ratio long/short {_fmt(inc.get('ratio'), '.2f')}")
        lines += _step_growth(inc["runs"])
    mem = results.get("memory")
    if mem:
        lines += [
            "",
            f"PEAK MEMORY: {mem['peak_tree_gib']:.2f} GiB (largest process tree of any run); "
            f"bench process {mem['self_max_rss_gib']:.2f} GiB, "
            f"largest child {mem['children_max_rss_gib']:.2f} GiB",
        ]
    tg = results.get("targets")
    if tg:
        lines += ["", "TARGETS (issue 9)", f"{'figure':<56}{'value':>12}{'target':>12}  met"]
        for t in tg.values():
            value = t["value"]
            spec = ",.0f" if value and value > 1000 else ".2f"
            met = "—" if "met" not in t else ("yes" if t["met"] else "NO")
            note = f"  ({t['note']})" if t.get("note") else ""
            lines.append(
                f"{t['description']:<56}{_fmt(value, spec):>12}{t['target']:>12}  {met}{note}"
            )
    lines.append("=" * 96)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=SCALES, default="small")
    parser.add_argument(
        "--days", type=int, default=None, help=f"backfill window (default 365; quick: {QUICK_DAYS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"CI smoke run: histories of {QUICK_HISTORIES[0]} and {QUICK_HISTORIES[1]} days, "
        f"backfill of {QUICK_DAYS}, 4 forecast series",
    )
    parser.add_argument(
        "--histories",
        default=None,
        help="SHORT,LONG: the two history lengths of the next-day runs (default 30,365; the "
        "target compares those two)",
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections: {SECTIONS}"
    )
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=DEFAULT_END,
        help=f"last day of the window, exclusive (default {DEFAULT_END}, fixed so runs compare)",
    )
    parser.add_argument(
        "--forecast-series",
        type=int,
        default=None,
        help="series to forecast, largest first (default 0: all, as the daily run; quick: 4)",
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="keep warehouses and logs here")
    args = parser.parse_args(argv)

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    check_scale(args.scale)
    days = args.days or (QUICK_DAYS if args.quick else 365)
    short, long = QUICK_HISTORIES if args.quick else (30, 365)
    if args.histories:
        try:
            short, long = (int(h) for h in args.histories.split(","))
        except ValueError:
            parser.error(f"--histories: expected SHORT,LONG in days, got {args.histories!r}")
        if not 0 < short < long:
            parser.error(f"--histories: expected 0 < SHORT < LONG, got {short},{long}")
    n_series = (
        args.forecast_series if args.forecast_series is not None else (4 if args.quick else 0)
    )
    end = args.end_date
    sha = git("rev-parse", "--short", "HEAD")
    json_path = args.json or ROOT / "bench" / "results" / f"{sha or 'nogit'}-{args.scale}.json"

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="aispend-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "meta": {
            "commit": git("rev-parse", "HEAD"),
            "commit_short": sha,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "scale": args.scale,
            "scale_knob": scale_supported(),
            "quick": args.quick,
            "days": days,
            "histories": [short, long],
            "end_date": end.isoformat(),
            "sections": only,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(),
            "work_dir": str(work),
        }
    }
    say(f"scale {args.scale}{' quick' if args.quick else ''}, sections {only}, work in {work}")
    peaks: list[int] = []
    failed: str | None = None
    try:
        if "ingestion" in only:
            results["ingestion"] = bench_ingestion(
                work, end - timedelta(days=days), end, args.scale
            )
        next_day = end + timedelta(days=1)
        needs_backfill = any(s in only for s in ("backfill", "dbt", "forecast", "incremental"))
        backfill_wh = work / f"history{days}" / "warehouse.duckdb"
        if needs_backfill:
            shutil.rmtree(backfill_wh.parent, ignore_errors=True)
            back = aispend_run(
                backfill_wh,
                end - timedelta(days=days),
                end,
                args.scale,
                work / "logs" / f"backfill_{days}.log",
                f"backfill {days} days",
                world_end=next_day if "incremental" in only else None,
                command="backfill",
            )
            peaks.append(back["peak_rss_bytes"])
            if "backfill" in only:
                results["backfill"] = back
        if "dbt" in only:
            results["dbt"] = bench_dbt(
                work, backfill_wh, end - timedelta(days=days), end, args.scale
            )
        if "forecast" in only:
            results["forecast"] = bench_forecast(
                backfill_wh, end - timedelta(days=days), end, args.scale, n_series, args.quick
            )
        if "incremental" in only:
            runs: dict[str, Any] = {}
            for h in (short, long):
                start = end - timedelta(days=h)
                if h == days:  # the backfill above is this history
                    wh, first = backfill_wh, back
                else:
                    wh = work / f"history{h}" / "warehouse.duckdb"
                    shutil.rmtree(wh.parent, ignore_errors=True)
                    first = aispend_run(
                        wh,
                        start,
                        end,
                        args.scale,
                        work / "logs" / f"backfill_{h}.log",
                        f"history {h} days: backfill",
                        world_end=next_day,
                        command="backfill",
                    )
                    peaks.append(first["peak_rss_bytes"])
                nxt = aispend_run(
                    wh,
                    start,
                    next_day,
                    args.scale,
                    work / "logs" / f"incremental_{h}.log",
                    f"history {h} days: next day",
                    world_end=next_day,
                )
                peaks.append(nxt["peak_rss_bytes"])
                runs[str(h)] = {**nxt, "history_days": h, "backfill_seconds": first["seconds"]}
            results["incremental"] = {
                "runs": runs,
                "ratio": runs[str(long)]["seconds"] / runs[str(short)]["seconds"],
            }
    except BenchError as exc:
        failed = str(exc)
        say(f"FAILED: {exc}")

    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    results["memory"] = {
        "peak_tree_gib": max(peaks, default=0) / GIB,
        "self_max_rss_gib": self_rss / GIB,
        "children_max_rss_gib": child_rss / GIB,
    }
    results["targets"] = targets(results)
    results["meta"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["meta"]["seconds"] = time.monotonic() - _T0
    if failed:
        results["error"] = failed
    print(render(results), flush=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    say(f"results written to {json_path}")
    if args.work_dir is None and not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
