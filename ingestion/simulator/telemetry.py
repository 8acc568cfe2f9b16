"""The customer's own application telemetry, consistent with the simulated provider usage.

Telemetry carries no money: it says which application (feature, team) served which end customer
with which API key and model. The bill is later allocated ("true-up") in proportion to it.

For each UTC day of the written window and each (api key, model) of the organisation, the day's
API requests become per-request records of the applications that use the key:

* Most keys are dedicated to one application (one feature and team); the largest OpenAI key and
  the largest Anthropic key are SHARED by several applications, features, teams and customers -
  the keys that allocation has to split.
* A few keys (about 10% of tokens) and the Anthropic Console are NOT instrumented, so allocation
  has an honest unallocated remainder.
* For an instrumented key the records' tokens add up EXACTLY to the provider's usage for the
  (day, key, model), per token class (non-cached input, cache read, cache write, output), and the
  successful records number exactly the provider's requests (unless `sample_per_day` caps them).
* A few percent of requests first fail (HTTP 429 or 500, no tokens) and succeed on a retry
  (`is_retry`, `aispend.retry_count`); failed attempts share the retry's trace.

Two formats, for disjoint sets of applications (an application exports one way only):

* `telemetry/otlp/YYYY-MM-DD.json`: an OTLP/JSON `ExportTraceServiceRequest` per day, one
  resourceSpans per service, one span per request, GenAI semantic-convention attributes
  (`gen_ai.usage.input_tokens` INCLUDES cache reads and writes, as the conventions say).
* `telemetry/requests/YYYY-MM-DD.jsonl`: an application request log, one JSON object per line;
  `input_tokens` likewise includes `cached_input_tokens` and `cache_write_tokens`.

Volume: the default organisation makes ~125-200k requests a day, so per-request records are
written for the last `recent_days` days of the window only (default 30; None = every day), like
a trace backend's retention. `sample_per_day` caps the records of a day: requests of each
(key, model) are then merged proportionally into fewer, larger records - token totals stay
exact, request counts no longer match the provider's.

Scale: by default (`sample_per_day=SCALE_DEFAULT`) the small organisation writes one record per
request, as before; medium and large cap a day at `ScaleSpec.telemetry_records_per_day`
records (8,000 and 60,000; with ~3% failed attempts large writes ~62k records a day, ~22.6
million per 365 days). Pass an int to cap differently or None for one record per request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ingestion.simulator.org import DIURNAL, SyntheticOrg, rng_for

SCALE_DEFAULT: Any = "scale"  # sample_per_day: the organisation's scale decides

DEFAULT_RECENT_DAYS = 30
ERROR_RATE = 0.03  # share of successful requests preceded by at least one failed attempt
CUSTOMERS = tuple(f"cus_{i:04d}" for i in range(1, 21))
FEATURES = ("support-bot", "search", "summarize", "agent")
TEAMS = ("support", "platform", "growth", "research")


@dataclass(frozen=True)
class App:
    """One of the customer's services that calls the model APIs."""

    service: str
    feature: str
    team: str
    customer_facing: bool
    export: str  # "otlp" or "jsonl": how this service ships its telemetry
    version: str


APPS = (
    App("support-bot-api", "support-bot", "support", True, "otlp", "3.14.2"),
    App("search-api", "search", "growth", True, "jsonl", "2.8.0"),
    App("doc-summarizer", "summarize", "research", True, "otlp", "1.22.5"),
    App("agent-runtime", "agent", "platform", True, "otlp", "0.19.1"),
    App("research-notebooks", "summarize", "research", False, "jsonl", "0.4.7"),
    App("growth-agent", "agent", "growth", True, "jsonl", "1.3.0"),
)


# (feature, team) pairs: two applications may share one, and the truth groups by the pair
_GROUPS = tuple(dict.fromkeys((a.feature, a.team) for a in APPS))
_APP_GROUP = np.array([_GROUPS.index((a.feature, a.team)) for a in APPS], dtype=np.int64)


@dataclass(frozen=True)
class KeyUse:
    """How one API key is used: its applications and their request shares."""

    provider: str
    api_key_id: str
    apps: tuple[int, ...]  # indexes into APPS
    weights: tuple[float, ...]

    @property
    def shared(self) -> bool:
        return len(self.apps) > 1


@dataclass(frozen=True)
class TelemetryPlan:
    """The seeded mapping from keys to applications, and which keys are not instrumented."""

    keys: dict[tuple[str, str], KeyUse]  # (provider, api_key_id) -> use; instrumented only
    uninstrumented: tuple[tuple[str, str | None], ...]
    customer_weights: tuple[tuple[float, ...], ...]  # per app, over CUSTOMERS

    @property
    def shared_keys(self) -> list[tuple[str, str]]:
        return [k for k, use in self.keys.items() if use.shared]


def _org(sim_or_org: Any) -> SyntheticOrg:
    return sim_or_org if isinstance(sim_or_org, SyntheticOrg) else sim_or_org.org


def telemetry_plan(sim_or_org: Any) -> TelemetryPlan:
    """Deterministic (seeded) key -> application mapping of the organisation."""
    org = _org(sim_or_org)
    rng = rng_for(org.seed, "telemetry", "plan")
    est: list[tuple[str, str, float]] = []
    for k in org.openai_keys:
        est.append(("openai", k.id, k.base_requests * (k.input_per_request + k.output_per_request)))
    for k in org.anthropic_keys:
        if k.id is not None:
            tokens = k.input_per_request + k.output_per_request
            est.append(("anthropic", k.id, k.base_requests * tokens))
    total = sum(e[2] for e in est)
    share = {(p, k): v / total for p, k, v in est}
    # the largest key of each provider is shared by several applications
    shared = [
        max((e for e in est if e[0] == provider), key=lambda e: e[2])[:2]
        for provider in ("openai", "anthropic")
    ]
    # uninstrumented: a few keys adding up to roughly 10% of tokens
    rest = [e[:2] for e in est if e[:2] not in shared]
    rng.shuffle(rest)
    dark: list[tuple[str, str]] = []
    cum = 0.0
    for key in rest:
        if cum >= 0.07:
            break
        if cum + share[key] <= 0.13:
            dark.append(key)
            cum += share[key]
    if not dark:
        dark.append(min(rest, key=lambda k: share[k]))
    keys: dict[tuple[str, str], KeyUse] = {}
    otlp = [i for i, a in enumerate(APPS) if a.export == "otlp"]
    jsonl = [i for i, a in enumerate(APPS) if a.export == "jsonl"]
    for provider, key_id, _ in est:
        key = (provider, key_id)
        if key in dark:
            continue
        if key in shared:
            n = rng.randint(3, 4)
            apps = [rng.choice(otlp), rng.choice(jsonl)]
            others = [i for i in range(len(APPS)) if i not in apps]
            apps += rng.sample(others, n - 2)
            raw = [rng.uniform(0.5, 1.5) for _ in apps]
            weights = tuple(w / sum(raw) for w in raw)
            keys[key] = KeyUse(provider, key_id, tuple(sorted(apps)), weights)
        else:
            keys[key] = KeyUse(provider, key_id, (rng.randrange(len(APPS)),), (1.0,))
    customer_weights = []
    for _ in APPS:
        w = [1 / (i + 1) ** 0.9 for i in range(len(CUSTOMERS))]
        rng.shuffle(w)
        customer_weights.append(tuple(x / sum(w) for x in w))
    return TelemetryPlan(
        keys=keys,
        uninstrumented=(*dark, ("anthropic", None)),
        customer_weights=tuple(customer_weights),
    )


def api_usage(sim_or_org: Any, day: date) -> dict[tuple[str, str | None, str], list[int]]:
    """The provider usage of a day per (provider, api_key_id, model):
    [requests, input (non-cached), cached input, cache write, output]."""
    org = _org(sim_or_org)
    data = org.day(day)
    out: dict[tuple[str, str | None, str], list[int]] = {}
    if data is None:
        return out
    for r in data.openai_day:
        acc = out.setdefault(("openai", r[1], r[2]), [0, 0, 0, 0, 0])
        for i, v in enumerate((r[4], r[5], r[6], r[7], r[8])):
            acc[i] += v
    for r in data.anthropic_day:
        acc = out.setdefault(("anthropic", r[1], r[2]), [0, 0, 0, 0, 0])
        for i, v in enumerate((r[12], r[6], r[9], r[7] + r[8], r[10])):
            acc[i] += v
    return out


def _window_days(org: SyntheticOrg, recent_days: int | None) -> list[date]:
    days = org.days()
    return days if recent_days is None else days[-recent_days:]


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer parts of `total` proportional to `weights`, summing to `total` exactly."""
    if total == 0:
        return np.zeros(len(weights), dtype=np.int64)
    cum = np.floor(np.cumsum(weights) * (total / weights.sum())).astype(np.int64)
    cum[-1] = total
    out = cum.copy()  # np.diff(cum, prepend=0), without its per-call overhead
    out[1:] -= cum[:-1]
    return out


@dataclass
class _Batch:
    """The records of one (day, key, model): successes and failed attempts, as arrays."""

    provider: str
    api_key_id: str
    model: str
    app: np.ndarray
    customer: np.ndarray  # index into CUSTOMERS, -1 = none (internal service)
    start_ns: np.ndarray
    duration_ns: np.ndarray
    uncached: np.ndarray
    cached: np.ndarray
    write: np.ndarray
    output: np.ndarray
    status: np.ndarray  # 200, 429, 500
    retry_count: np.ndarray
    trace_hi: np.ndarray
    trace_lo: np.ndarray
    span_id: np.ndarray


def records_cap(org: SyntheticOrg, sample_per_day: Any = SCALE_DEFAULT) -> int | None:
    """The records-per-day cap in effect: the scale's default unless an int or None is given."""
    if isinstance(sample_per_day, str):
        if sample_per_day != SCALE_DEFAULT:
            raise ValueError(f"sample_per_day={sample_per_day!r}: an int, None or SCALE_DEFAULT")
        return org.spec.telemetry_records_per_day
    return sample_per_day


def _day_batches(
    org: SyntheticOrg, plan: TelemetryPlan, day: date, sample_per_day: Any
) -> Iterator[_Batch]:
    sample_per_day = records_cap(org, sample_per_day)
    usage = api_usage(org, day)
    instrumented = {k: v for k, v in usage.items() if (k[0], k[1]) in plan.keys}
    day_requests = sum(v[0] for v in instrumented.values())
    ratio = 1.0
    if sample_per_day is not None and day_requests > sample_per_day:
        ratio = sample_per_day / day_requests
    day_ns = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9
    hour_p = np.array(DIURNAL, dtype=float) / sum(DIURNAL)
    for (provider, key_id, model), (req, unc, cached, write, out) in sorted(instrumented.items()):
        tokens = unc + cached + write + out
        n = req if ratio == 1.0 else max(1, math.ceil(req * ratio))
        if n == 0:
            if tokens:
                n = 1
            else:
                continue
        use = plan.keys[(provider, key_id)]
        seed = int.from_bytes(
            rng_for(org.seed, "telemetry", day.isoformat(), provider, key_id, model)
            .getrandbits(64)
            .to_bytes(8, "big"),
            "big",
        )
        g = np.random.default_rng(seed)
        app = g.choice(np.array(use.apps), size=n, p=np.array(use.weights))
        customer = np.full(n, -1, dtype=np.int64)
        for a in use.apps:
            mask = app == a
            if APPS[a].customer_facing and mask.any():
                customer[mask] = g.choice(
                    len(CUSTOMERS), size=int(mask.sum()), p=np.array(plan.customer_weights[a])
                )
        w_in = g.lognormal(0.0, 0.5, n)
        w_out = g.lognormal(0.0, 0.6, n)
        hours = g.choice(24, size=n, p=hour_p)
        start = day_ns + hours * 3_600 * 10**9 + g.integers(0, 3_590 * 10**9, n)
        out_parts = _split(out, w_out)
        duration = (300 + out_parts * g.uniform(8, 25, n)).astype(np.int64) * 10**6
        n_err = g.binomial(n, ERROR_RATE) if n > 1 else 0
        retried = g.choice(n, size=n_err, replace=False) if n_err else np.zeros(0, np.int64)
        attempts = g.choice((1, 1, 1, 2), size=n_err) if n_err else np.zeros(0, np.int64)
        retry_count = np.zeros(n, dtype=np.int64)
        retry_count[retried] = attempts
        trace_hi = g.integers(0, 2**63, n, dtype=np.int64)
        trace_lo = g.integers(0, 2**63, n, dtype=np.int64)
        # failed attempts: same trace, earlier, no tokens
        err_of = np.repeat(retried, attempts)
        m = len(err_of)
        err_status = g.choice((429, 429, 429, 500), size=m) if m else np.zeros(0, np.int64)
        err_dur = g.integers(50, 2_000, m) * 10**6 if m else np.zeros(0, np.int64)
        zeros = np.zeros(m, dtype=np.int64)
        # a retry starts after its failed attempts: move successes' start back within the day
        err_start = np.maximum(start[err_of] - g.integers(1, 30, m) * 10**9, day_ns)
        yield _Batch(
            provider=provider,
            api_key_id=key_id,
            model=model,
            app=np.concatenate([app, app[err_of]]),
            customer=np.concatenate([customer, customer[err_of]]),
            start_ns=np.concatenate([start, err_start]),
            duration_ns=np.concatenate([duration, err_dur]),
            uncached=np.concatenate([_split(unc, w_in), zeros]),
            cached=np.concatenate([_split(cached, w_in), zeros]),
            write=np.concatenate([_split(write, w_in), zeros]),
            output=np.concatenate([out_parts, zeros]),
            status=np.concatenate([np.full(n, 200, dtype=np.int64), err_status]),
            retry_count=np.concatenate([retry_count, zeros]),
            trace_hi=np.concatenate([trace_hi, trace_hi[err_of]]),
            trace_lo=np.concatenate([trace_lo, trace_lo[err_of]]),
            span_id=g.integers(1, 2**63, n + m, dtype=np.int64),
        )


def telemetry_truth(
    sim_or_org: Any,
    *,
    sample_per_day: Any = SCALE_DEFAULT,
    recent_days: int | None = DEFAULT_RECENT_DAYS,
) -> list[dict[str, Any]]:
    """Ground truth of what `write_telemetry` writes (same arguments): one row per (day,
    provider, api_key_id, model, feature, team, customer_id) with requests (records, failed
    attempts included), errors, retries and tokens; `input_tokens` is NON-cached input."""
    org = _org(sim_or_org)
    plan = telemetry_plan(org)
    rows: list[dict[str, Any]] = []
    for day in _window_days(org, recent_days):
        acc: dict[tuple[Any, ...], list[int]] = {}
        for b in _day_batches(org, plan, day, sample_per_day):
            # group the batch's records by (feature, team, customer) with numpy, exactly
            group = _APP_GROUP[b.app] * (len(CUSTOMERS) + 1) + (b.customer + 1)
            order = np.argsort(group, kind="stable")
            sorted_group = group[order]
            starts = np.flatnonzero(np.diff(sorted_group, prepend=-1))
            columns = (
                np.ones(len(group), dtype=np.int64),
                (b.status != 200).astype(np.int64),
                (b.retry_count > 0).astype(np.int64),
                b.uncached,
                b.cached,
                b.write,
                b.output,
            )
            sums = [np.add.reduceat(col[order], starts).tolist() for col in columns]
            for j, g in enumerate(sorted_group[starts].tolist()):
                (feature, team), c = _GROUPS[g // (len(CUSTOMERS) + 1)], g % (len(CUSTOMERS) + 1)
                k = (
                    b.provider,
                    b.api_key_id,
                    b.model,
                    feature,
                    team,
                    CUSTOMERS[c - 1] if c > 0 else None,
                )
                a = acc.setdefault(k, [0, 0, 0, 0, 0, 0, 0])
                for i in range(7):
                    a[i] += sums[i][j]
        for k, a in sorted(acc.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            rows.append(
                {
                    "date": day.isoformat(),
                    "provider": k[0],
                    "api_key_id": k[1],
                    "model": k[2],
                    "feature": k[3],
                    "team": k[4],
                    "customer_id": k[5],
                    "requests": a[0],
                    "errors": a[1],
                    "retries": a[2],
                    "input_tokens": a[3],
                    "cached_input_tokens": a[4],
                    "cache_write_tokens": a[5],
                    "output_tokens": a[6],
                }
            )
    return rows


# ---- writers ------------------------------------------------------------------------------
# Records are formatted with templates and cached JSON fragments (byte for byte what json.dumps
# wrote before): at the large scale a day has ~60k records, so this is the writer's hot loop.
@lru_cache(maxsize=8192)
def _q(value: str | None) -> str:
    return json.dumps(value)


@lru_cache(maxsize=8192)
def _str_attr(key: str, value: str) -> str:
    return '{"key":%s,"value":{"stringValue":%s}}' % (_q(key), _q(value))  # noqa: UP031


@lru_cache(maxsize=64)
def _int_attr_prefix(key: str) -> str:
    return '{"key":%s,"value":{"intValue":"' % _q(key)  # noqa: UP031


def _int_attr(key: str, value: int) -> str:
    return f'{_int_attr_prefix(key)}{value:d}"}}}}'


@lru_cache(maxsize=64)
def _utc_day(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, tz=UTC).strftime("%Y-%m-%dT")


def _rfc3339(ns: int) -> str:
    secs, rem = divmod(ns, 10**9)
    day_number, sod = divmod(secs, 86_400)
    hour, rest = divmod(sod, 3_600)
    return "%s%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        _utc_day(day_number),
        hour,
        rest // 60,
        rest % 60,
        rem // 10**6,
    )


_OTLP_APP = np.array([a.export == "otlp" for a in APPS])

_SCOPES = {
    "openai": ("opentelemetry.instrumentation.openai_v2", "2.1b0"),
    "anthropic": ("opentelemetry.instrumentation.anthropic", "0.40.2"),
}


def _columns(b: _Batch, idx: np.ndarray) -> dict[str, list[int]]:
    """The batch's record fields at `idx`, as Python ints (one conversion per column)."""
    names = (
        "app",
        "customer",
        "start_ns",
        "duration_ns",
        "uncached",
        "cached",
        "write",
        "output",
        "status",
        "retry_count",
        "trace_hi",
        "trace_lo",
        "span_id",
    )
    return {n: getattr(b, n)[idx].tolist() for n in names}


def _otlp_spans(b: _Batch, idx: np.ndarray) -> list[str]:
    fixed = ",".join(
        (
            _str_attr("gen_ai.operation.name", "chat"),
            _str_attr("gen_ai.system", b.provider),
            _str_attr("gen_ai.request.model", b.model),
            _str_attr("aispend.api_key_id", b.api_key_id),
        )
    )
    name = _q(f"chat {b.model}")
    resp_model = _str_attr("gen_ai.response.model", b.model)
    col = _columns(b, idx)
    out: list[str] = []
    for j in range(len(idx)):
        app = APPS[col["app"][j]]
        start = col["start_ns"][j]
        status = col["status"][j]
        unc, cached, write = col["uncached"][j], col["cached"][j], col["write"][j]
        attrs = [fixed, _str_attr("app.feature", app.feature), _str_attr("app.team", app.team)]
        c = col["customer"][j]
        if c >= 0:
            attrs.append(_str_attr("app.customer_id", CUSTOMERS[c]))
        attrs.append(_int_attr("aispend.retry_count", col["retry_count"][j]))
        attrs.append(_int_attr("http.response.status_code", status))
        if status == 200:
            attrs += [
                resp_model,
                _int_attr("gen_ai.usage.input_tokens", unc + cached + write),
                _int_attr("gen_ai.usage.output_tokens", col["output"][j]),
                _int_attr("gen_ai.usage.cache_read.input_tokens", cached),
                _int_attr("gen_ai.usage.cache_creation.input_tokens", write),
            ]
            status_json = '{"code":1}'
        else:
            attrs.append(_str_attr("error.type", str(status)))
            msg = "rate limit exceeded" if status == 429 else "internal server error"
            status_json = '{"code":2,"message":"%s"}' % msg  # noqa: UP031
        out.append(
            '{"traceId":"%016x%016x","spanId":"%016x","name":%s,"kind":3,'  # noqa: UP031
            '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s],"status":%s}'
            % (
                col["trace_hi"][j],
                col["trace_lo"][j],
                col["span_id"][j],
                name,
                start,
                start + col["duration_ns"][j],
                ",".join(attrs),
                status_json,
            )
        )
    return out


_JSONL = (
    '{"request_id":"req_%016x","timestamp":"%s","provider":%s,"api_key_id":%s,"model":%s,'
    '"input_tokens":%d,"cached_input_tokens":%d,"cache_write_tokens":%d,"output_tokens":%d,'
    '"feature":%s,"team":%s,"customer_id":%s,"service":%s,"status":"%s","http_status":%d,'
    '"is_retry":%s,"retry_count":%d,"latency_ms":%d}'
)


def _jsonl_lines(b: _Batch, idx: np.ndarray) -> list[str]:
    """One compact JSON object per record (keys in the order json.dumps wrote them)."""
    provider, key_id, model = _q(b.provider), _q(b.api_key_id), _q(b.model)
    col = _columns(b, idx)
    out: list[str] = []
    for j in range(len(idx)):
        app = APPS[col["app"][j]]
        c = col["customer"][j]
        status = col["status"][j]
        unc, cached, write = col["uncached"][j], col["cached"][j], col["write"][j]
        retries = col["retry_count"][j]
        out.append(
            _JSONL
            % (
                col["span_id"][j],
                _rfc3339(col["start_ns"][j]),
                provider,
                key_id,
                model,
                unc + cached + write,
                cached,
                write,
                col["output"][j],
                _q(app.feature),
                _q(app.team),
                _q(CUSTOMERS[c] if c >= 0 else None),
                _q(app.service),
                "ok" if status == 200 else "error",
                status,
                "true" if retries > 0 else "false",
                retries,
                col["duration_ns"][j] // 10**6,
            )
        )
    return out


def write_telemetry(
    sim_or_org: Any,
    root: Path,
    *,
    sample_per_day: Any = SCALE_DEFAULT,
    recent_days: int | None = DEFAULT_RECENT_DAYS,
    days_from: date | None = None,
) -> dict[str, Path]:
    """Write the day files under `root/telemetry/{otlp,requests}/`; returns both folders.

    Days: the last `recent_days` of the window (None = all), from `days_from` on when given
    (the next day's delivery: earlier files are left as they are). Files are rewritten whole,
    so a second call re-delivers the same days byte for byte.
    """
    org = _org(sim_or_org)
    plan = telemetry_plan(org)
    otlp_dir = Path(root) / "telemetry" / "otlp"
    jsonl_dir = Path(root) / "telemetry" / "requests"
    otlp_dir.mkdir(parents=True, exist_ok=True)
    jsonl_dir.mkdir(parents=True, exist_ok=True)
    for day in _window_days(org, recent_days):
        if days_from is not None and day < days_from:
            continue
        spans: dict[tuple[int, str], list[str]] = {}
        lines: list[tuple[int, str]] = []
        for b in _day_batches(org, plan, day, sample_per_day):
            export = _OTLP_APP[b.app]
            for a in np.unique(b.app[export]).tolist():
                idx = np.flatnonzero(b.app == a)
                spans.setdefault((a, b.provider), []).extend(_otlp_spans(b, idx))
            jidx = np.flatnonzero(~export)
            lines.extend(zip(b.start_ns[jidx].tolist(), _jsonl_lines(b, jidx), strict=True))
        by_app: dict[int, list[str]] = {}
        for (a, provider), items in sorted(spans.items()):
            scope, version = _SCOPES[provider]
            by_app.setdefault(a, []).append(
                '{"scope":{"name":%s,"version":%s},"spans":[%s]}'  # noqa: UP031
                % (_q(scope), _q(version), ",".join(items))
            )
        resource_spans = []
        for a, scopes in sorted(by_app.items()):
            app = APPS[a]
            resource = ",".join(
                (
                    _str_attr("service.name", app.service),
                    _str_attr("service.version", app.version),
                    _str_attr("deployment.environment.name", "production"),
                    _str_attr("telemetry.sdk.language", "python"),
                    _str_attr("telemetry.sdk.name", "opentelemetry"),
                )
            )
            resource_spans.append(
                '{"resource":{"attributes":[%s]},"scopeSpans":[%s]}'  # noqa: UP031
                % (resource, ",".join(scopes))
            )
        name = day.isoformat()
        (otlp_dir / f"{name}.json").write_text(
            '{"resourceSpans":[' + ",\n".join(resource_spans) + "]}\n"
        )
        lines.sort(key=lambda x: x[0])
        (jsonl_dir / f"{name}.jsonl").write_text("".join(line + "\n" for _, line in lines))
    return {"otlp": otlp_dir, "requests": jsonl_dir}
