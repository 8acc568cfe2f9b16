"""The synthetic organisation behind the simulator: projects, keys, hourly usage, costs, incidents.

Everything is derived from the seed with hash-seeded RNGs, so a day's data depends only on
(seed, scale, organisation, day, restatements) and never on which window a client asks for.
Days are generated lazily and cached; each day's usage is drawn at day level per stream and
split over hours with integer arithmetic, so 24 hours always sum exactly to the day.

Scale (`SimConfig.scale`): `small` is the default demo organisation (4 projects, 3 workspaces,
19 API keys), generated key by key in Python and cached for the whole window. `medium` and
`large` keep that organisation unchanged (same ids, usage and incidents) and add seeded
projects and workspaces whose keys use 3 models each; their usage is drawn with numpy, for all
keys x models x 24 hours of a day at once, and every (key, model) makes at least
`MIN_DAY_REQUESTS` requests a day so each of its 24 hourly buckets is non-empty. Row counts:

* medium: 19 + 24 = 43 API keys; 24 x 3 x 24 = 1,728 extra hourly rows a day, ~2,700 with the
  ~1,000 of the default organisation (~1 million per 365 days).
* large: 19 + 390 = 409 API keys; 390 x 3 x 24 = 28,080 extra hourly rows a day on top of the
  ~1,000 of the default organisation: ~29,000 rows a day, ~10.6 million per 365 days served with
  `bucket_width=1h` (OpenAI completions plus Anthropic messages usage).

At medium and large only the last `ScaleSpec.cache_days` generated days are kept (an LRU), so a
year is never held in memory at once; the ground truth is computed day by day.
"""

from __future__ import annotations

import hashlib
import math
import random
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from ingestion.simulator import openai_extras
from ingestion.simulator.config import check_scale
from ingestion.simulator.prices import PriceLookup, PriceRow, build_price_book

ALNUM = string.ascii_letters + string.digits
TEN_DP = Decimal("1e-10")
SIX_DP = Decimal("1e-6")
HUNDRED = Decimal(100)
MILLION = Decimal(1_000_000)

OPENAI_MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "o3-2025-04-16",
)
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-1-20250805"
ANTHROPIC_MODELS = (SONNET, HAIKU, OPUS)
MODEL_DISPLAY = {SONNET: "Claude Sonnet 4", HAIKU: "Claude Haiku 4.5", OPUS: "Claude Opus 4.1"}

# Anthropic token types: (usage field path, cost_report token_type, description label, price class)
ANTHROPIC_TOKEN_TYPES = (
    ("uncached_input_tokens", "Input Tokens", "input"),
    ("output_tokens", "Output Tokens", "output"),
    ("cache_read_input_tokens", "Cache Read Input Tokens", "cached_input"),
    ("cache_creation.ephemeral_5m_input_tokens", "5m Cache Write Input Tokens", "cache_write_5m"),
    ("cache_creation.ephemeral_1h_input_tokens", "1h Cache Write Input Tokens", "cache_write_1h"),
)

# Row layouts (tuples keep generation and aggregation fast).
# OpenAI:    project_id, api_key_id, model, batch | requests, uncached, cached, cache_write, output
# Anthropic: workspace_id, api_key_id, model, service_tier, context_window, inference_geo |
#            uncached, cache_write_5m, cache_write_1h, cache_read, output, web_search, requests
OPENAI_NDIM = 4
ANTHROPIC_NDIM = 6

WEEKEND_FACTOR = 0.45
GROWTH_PER_DAY = 0.4 / 180
DAY_SIGMA = 0.1
INCIDENT_MIN_OFFSET = 60
INCIDENT_GAP = 7


def _diurnal_weights() -> tuple[int, ...]:
    """Integer hourly weights: quiet at night, peak mid-afternoon UTC."""
    return tuple(int(30 + 100 * (1 + math.cos(2 * math.pi * (h - 15) / 24)) / 2) for h in range(24))


DIURNAL = _diurnal_weights()
DIURNAL_CUM = tuple(sum(DIURNAL[:h]) for h in range(25))
DIURNAL_TOTAL = DIURNAL_CUM[24]


DIURNAL_CUM_NP = np.array(DIURNAL_CUM, dtype=np.int64)
# Requests a day of one (key, model) of a scale key: enough for every hour to get >= 1 request
# (the quietest hour has weight min(DIURNAL) of DIURNAL_TOTAL).
MIN_DAY_REQUESTS = -(-DIURNAL_TOTAL // min(DIURNAL))


@dataclass(frozen=True)
class ScaleSpec:
    """What a scale adds to the default organisation, and how many days stay cached."""

    openai_projects: int = 0
    keys_per_project: int = 0
    anthropic_workspaces: int = 0
    keys_per_workspace: int = 0
    cache_days: int | None = None  # None: keep every generated day (the small demo)
    # telemetry records written per day by default (None: one per request, the small demo)
    telemetry_records_per_day: int | None = None
    usd_per_key_day: float = 12.0  # median weekday spend of an added key at the window start


SCALE_SPECS = {
    "small": ScaleSpec(),
    "medium": ScaleSpec(4, 4, 2, 4, cache_days=64, telemetry_records_per_day=8_000),
    # 60,000 records (plus ~3% failed attempts) a day: ~22.6 million per 365 days
    "large": ScaleSpec(30, 8, 15, 10, cache_days=16, telemetry_records_per_day=60_000),
}


def split_hours(n: int) -> list[int]:
    """Split a day's count over 24 hours; integer arithmetic so the parts sum to n exactly."""
    return [
        n * DIURNAL_CUM[h + 1] // DIURNAL_TOTAL - n * DIURNAL_CUM[h] // DIURNAL_TOTAL
        for h in range(24)
    ]


def split_hours_np(n: np.ndarray) -> np.ndarray:
    """split_hours over an int64 array: a new last axis of 24 hours, same integer arithmetic."""
    scaled = n[..., None] * DIURNAL_CUM_NP
    return np.diff(scaled // DIURNAL_TOTAL, axis=-1)


def np_rng_for(*parts: Any) -> np.random.Generator:
    """A numpy Generator seeded from a stable hash of `parts`."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def rng_for(*parts: Any) -> random.Random:
    """A Random seeded from a stable hash of `parts` (Python's hash() is salted per process)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _rand_id(rng: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(ALNUM) for _ in range(n))


def _pick_models(rng: random.Random, pool: tuple[str, ...], k: int) -> tuple[str, ...]:
    return tuple(rng.sample(pool, k))


def _weights(rng: random.Random, k: int) -> tuple[float, ...]:
    raw = [rng.uniform(0.3, 1.0) for _ in range(k)]
    total = sum(raw)
    return tuple(w / total for w in raw)


@dataclass(frozen=True)
class OpenAIKey:
    """A project API key and its traffic profile (per-request sizes, cache and batch shares)."""

    id: str
    name: str
    project_id: str
    created_at: int
    models: tuple[str, ...]
    weights: tuple[float, ...]
    input_per_request: int
    output_per_request: int
    cache_hit: float
    cache_write: float
    batch_share: float
    base_requests: float = 0.0


@dataclass(frozen=True)
class OpenAIProject:
    """An OpenAI project with its keys."""

    id: str
    name: str
    created_at: int
    keys: tuple[OpenAIKey, ...]


@dataclass(frozen=True)
class AnthropicKey:
    """An Anthropic API key (id None = Console usage) and its traffic profile."""

    id: str | None
    name: str
    workspace_id: str | None
    created_at: int
    models: tuple[str, ...]
    weights: tuple[float, ...]
    input_per_request: int
    output_per_request: int
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float
    batch_share: float
    web_search_rate: float
    long_context_share: float
    base_requests: float = 0.0


@dataclass(frozen=True)
class Workspace:
    """An Anthropic workspace; the default workspace has id None in API output."""

    id: str | None
    name: str
    created_at: int
    keys: tuple[AnthropicKey, ...]


@dataclass(frozen=True)
class Incident:
    """An injected anomaly; `end_date` is exclusive, None = until the window end."""

    id: str
    kind: str
    provider: str
    project_id: str | None
    api_key_id: str | None
    model: str | None
    start_date: date
    end_date: date | None
    multiplier: float
    description: str

    def active(self, day: date) -> bool:
        """Whether the incident affects `day`."""
        return self.start_date <= day and (self.end_date is None or day < self.end_date)

    def as_dict(self) -> dict[str, Any]:
        """Ground-truth form (ISO dates)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "provider": self.provider,
            "project_id": self.project_id,
            "api_key_id": self.api_key_id,
            "model": self.model,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "multiplier": self.multiplier,
            "description": self.description,
        }


@dataclass
class DayData:
    """One UTC day's usage (hourly and daily rows) and its priced cost lines."""

    openai_hours: list[list[tuple[Any, ...]]]
    openai_day: list[tuple[Any, ...]]
    anthropic_hours: list[list[tuple[Any, ...]]]
    anthropic_day: list[tuple[Any, ...]]
    # (project_id, api_key_id, line_item, quantity, amount_usd quantized to 10 dp)
    openai_costs: list[tuple[Any, ...]] = field(default_factory=list)
    # (workspace_id, description, cost_type, model, token_type, tier, context, geo, cents 6 dp)
    anthropic_costs: list[tuple[Any, ...]] = field(default_factory=list)
    # embeddings, moderations, images, audio, vector stores, code interpreter (openai_extras)
    openai_extras: list[Any] = field(default_factory=list)


def _sum_rows(hours: list[list[tuple[Any, ...]]], ndim: int) -> list[tuple[Any, ...]]:
    acc: dict[tuple[Any, ...], list[int]] = {}
    for rows in hours:
        for row in rows:
            cur = acc.get(row[:ndim])
            if cur is None:
                acc[row[:ndim]] = list(row[ndim:])
            else:
                for i, v in enumerate(row[ndim:]):
                    cur[i] += v
    return [k + tuple(v) for k, v in acc.items()]


class SyntheticOrg:
    """Deterministic organisation with OpenAI projects and Anthropic workspaces.

    The organisation (ids, profiles, incidents, the in-window price change) depends on the seed
    and the world's days [start, world_end); a day's usage depends on that plus the day itself.
    `world_end` defaults to `end`. Days from `end` on have not happened yet: they are not
    served, and incidents starting then are not known. A later `end` with the same `world_end`
    therefore serves the same past, as a real provider does on the next day.
    """

    def __init__(
        self,
        seed: int,
        start: date,
        end: date,
        scale: str = "small",
        world_end: date | None = None,
    ) -> None:
        if end <= start:
            raise ValueError("end must be after start")
        if world_end is not None and world_end < end:
            raise ValueError(f"world_end {world_end} is before end {end}")
        self.seed = seed
        self.start = start
        self.end = end
        self.world_end = world_end or end
        self.scale = check_scale(scale)
        self.spec = SCALE_SPECS[scale]
        self.n_days = (end - start).days
        world_days = (self.world_end - start).days
        self.price_change_day = start + timedelta(days=world_days // 2)
        self._price_rows: list[PriceRow] = build_price_book(self.price_change_day)
        self.prices = PriceLookup(self._price_rows)
        self._lock = threading.Lock()
        self._cache: OrderedDict[date, DayData] = OrderedDict()
        self.cache_limit = self.spec.cache_days
        self._restate: dict[tuple[str, date], float] = {}
        rng = rng_for(seed, "org")
        created = 1_700_000_000
        self.projects = self._make_projects(rng, created)
        self.workspaces = self._make_workspaces(rng, created)
        # incidents live in the default organisation, whatever the scale
        self.incident_list = [
            incident
            for incident in self._place_incidents(
                rng_for(seed, "incidents", start, self.world_end), world_days
            )
            if incident.start_date < end
        ]
        # generated key by key in Python (the scale's keys are generated with numpy)
        self._base_projects = self.projects
        self._base_workspaces = self.workspaces
        self._openai_block: _OpenAIBlock | None = None
        self._anthropic_block: _AnthropicBlock | None = None
        if self.spec.openai_projects or self.spec.anthropic_workspaces:
            srng = rng_for(seed, "org", "scale", scale)
            extra_projects = self._make_scale_projects(srng, created)
            extra_workspaces = self._make_scale_workspaces(srng, created)
            self.projects = (*self.projects, *extra_projects)
            self.workspaces = (*self.workspaces, *extra_workspaces)
            self._openai_block = _OpenAIBlock.build([k for p in extra_projects for k in p.keys])
            self._anthropic_block = _AnthropicBlock.build(
                [k for w in extra_workspaces for k in w.keys]
            )

    # ---- organisation -------------------------------------------------------------------
    def _make_projects(self, rng: random.Random, created: int) -> tuple[OpenAIProject, ...]:
        names = ("Support Bot", "Search Ranking", "Data Extraction", "Internal Copilot")
        drafts: list[tuple[str, str, list[OpenAIKey]]] = []
        for p, pname in enumerate(names):
            pid = _rand_id(rng, "proj_", 16)
            keys = []
            for k in range(rng.randint(2, 3)):
                models = _pick_models(rng, OPENAI_MODELS, rng.randint(1, 3))
                out_hi = 2500 if any(m.startswith("o3") for m in models) else 800
                keys.append(
                    OpenAIKey(
                        id=_rand_id(rng, "key_", 16),
                        name=f"{pname.lower().replace(' ', '-')}-{k + 1}",
                        project_id=pid,
                        created_at=created + 86_400 * (10 * p + k),
                        models=models,
                        weights=_weights(rng, len(models)),
                        input_per_request=rng.randint(500, 4000),
                        output_per_request=rng.randint(100, out_hi),
                        cache_hit=rng.uniform(0.10, 0.50),
                        cache_write=rng.choice((0.0, 0.0, 0.0, rng.uniform(0.01, 0.05))),
                        batch_share=0.0,
                    )
                )
            drafts.append((pid, pname, keys))
        all_keys = [k for _, _, ks in drafts for k in ks]
        batch_key = rng.choice(all_keys)
        target = rng.uniform(250, 400)  # weekday USD/day at window start
        shares = [rng.lognormvariate(0, 0.6) for _ in all_keys]
        total_share = sum(shares)
        out: list[OpenAIProject] = []
        i = 0
        for p, (pid, pname, keys) in enumerate(drafts):
            fixed = []
            for key in keys:
                batch = 0.05 if key is batch_key else 0.0
                cpr = self._openai_cost_per_request(key)
                base = target * shares[i] / total_share / cpr
                fixed.append(
                    OpenAIKey(**{**key.__dict__, "batch_share": batch, "base_requests": base})
                )
                i += 1
            out.append(OpenAIProject(pid, pname, created + 86_400 * 10 * p, tuple(fixed)))
        return tuple(out)

    def _openai_cost_per_request(self, key: OpenAIKey) -> float:
        cost = 0.0
        for model, w in zip(key.models, key.weights, strict=True):
            p = [
                float(self.prices.price("openai", model, c, "default", None, self.start))
                for c in ("input", "cached_input", "output")
            ]
            inp = key.input_per_request
            cost += w * (
                inp * (1 - key.cache_hit) * p[0]
                + inp * key.cache_hit * p[1]
                + key.output_per_request * p[2]
            )
        return cost / 1e6

    def _make_workspaces(self, rng: random.Random, created: int) -> tuple[Workspace, ...]:
        specs = [(None, "Default Workspace"), ("x", "Research"), ("x", "Customer Agents")]
        drafts: list[tuple[str | None, str, list[AnthropicKey]]] = []
        for w, (marker, wname) in enumerate(specs):
            wid = _rand_id(rng, "wrkspc_01", 22) if marker else None
            keys = []
            for k in range(rng.randint(2, 3)):
                models = _pick_models(rng, ANTHROPIC_MODELS, rng.randint(1, 3))
                if k == 0 and HAIKU not in models:
                    models = (HAIKU, *models[:1])
                weights = list(_weights(rng, len(models)))
                if OPUS in models:  # opus is 5-15x pricier; keep it a minority of requests
                    weights[models.index(OPUS)] *= 0.3
                    weights = [x / sum(weights) for x in weights]
                has_1h = rng.random() < 0.5
                keys.append(
                    AnthropicKey(
                        id=_rand_id(rng, "apikey_01", 22),
                        name=f"{wname.lower().replace(' ', '-')}-key-{k + 1}",
                        workspace_id=wid,
                        created_at=created + 86_400 * (10 * w + k),
                        models=models,
                        weights=tuple(weights),
                        input_per_request=rng.randint(3000, 12000),
                        output_per_request=rng.randint(150, 700),
                        cache_read=rng.uniform(0.10, 0.45),
                        cache_write_5m=rng.uniform(0.02, 0.08),
                        cache_write_1h=rng.uniform(0.005, 0.03) if has_1h else 0.0,
                        batch_share=rng.choice((0.0, 0.0, rng.uniform(0.05, 0.2))),
                        web_search_rate=rng.choice((0.0, rng.uniform(0.01, 0.06))),
                        long_context_share=0.002 if SONNET in models else 0.0,
                    )
                )
            drafts.append((wid, wname, keys))
        console = AnthropicKey(
            id=None,
            name="Console",
            workspace_id=None,
            created_at=created,
            models=(SONNET,),
            weights=(1.0,),
            input_per_request=2500,
            output_per_request=600,
            cache_read=0.0,
            cache_write_5m=0.0,
            cache_write_1h=0.0,
            batch_share=0.0,
            web_search_rate=0.0,
            long_context_share=0.0,
        )
        drafts[0][2].append(console)
        target = rng.uniform(200, 350)
        all_keys = [k for _, _, ks in drafts for k in ks if k.id is not None]
        shares = {id(k): rng.lognormvariate(0, 0.6) for k in all_keys}
        total_share = sum(shares.values())
        out: list[Workspace] = []
        for w, (wid, wname, keys) in enumerate(drafts):
            fixed = []
            for key in keys:
                share = 0.02 if key.id is None else 0.98 * shares[id(key)] / total_share
                base = target * share / self._anthropic_cost_per_request(key)
                fixed.append(AnthropicKey(**{**key.__dict__, "base_requests": base}))
            out.append(Workspace(wid, wname, created + 86_400 * 10 * w, tuple(fixed)))
        return tuple(out)

    def _anthropic_cost_per_request(self, key: AnthropicKey) -> float:
        cost = 0.0
        for model, w in zip(key.models, key.weights, strict=True):
            inp = float(
                self.prices.price("anthropic", model, "input", "standard", "0-200k", EPOCH0)
            )
            out = float(
                self.prices.price("anthropic", model, "output", "standard", "0-200k", EPOCH0)
            )
            read, w5, w1 = key.cache_read, key.cache_write_5m, key.cache_write_1h
            per_in = (1 - read - w5 - w1) + 0.1 * read + 1.25 * w5 + 2 * w1
            cost += w * (key.input_per_request * inp * per_in + key.output_per_request * out)
        return cost / 1e6

    # ---- scale: added projects and workspaces ---------------------------------------------
    def _key_usd(self, rng: random.Random) -> float:
        return self.spec.usd_per_key_day * rng.lognormvariate(0, 0.8)

    def _make_scale_projects(self, rng: random.Random, created: int) -> list[OpenAIProject]:
        out = []
        for p in range(self.spec.openai_projects):
            pid = _rand_id(rng, "proj_", 16)
            pname = f"Workload {p + 1:03d}"
            keys = []
            for k in range(self.spec.keys_per_project):
                models = _pick_models(rng, OPENAI_MODELS, 3)
                out_hi = 2500 if any(m.startswith("o3") for m in models) else 800
                key = OpenAIKey(
                    id=_rand_id(rng, "key_", 16),
                    name=f"workload-{p + 1:03d}-{k + 1}",
                    project_id=pid,
                    created_at=created + 86_400 * (50 + p + k),
                    models=models,
                    weights=_weights(rng, 3),
                    input_per_request=rng.randint(500, 4000),
                    output_per_request=rng.randint(100, out_hi),
                    cache_hit=rng.uniform(0.10, 0.50),
                    cache_write=rng.choice((0.0, 0.0, 0.0, rng.uniform(0.01, 0.05))),
                    batch_share=0.0,
                )
                base = self._key_usd(rng) / self._openai_cost_per_request(key)
                keys.append(OpenAIKey(**{**key.__dict__, "base_requests": base}))
            out.append(OpenAIProject(pid, pname, created + 86_400 * (50 + p), tuple(keys)))
        return out

    def _make_scale_workspaces(self, rng: random.Random, created: int) -> list[Workspace]:
        out = []
        for w in range(self.spec.anthropic_workspaces):
            wid = _rand_id(rng, "wrkspc_01", 22)
            wname = f"Team {w + 1:03d}"
            keys = []
            for k in range(self.spec.keys_per_workspace):
                models = _pick_models(rng, ANTHROPIC_MODELS, 3)
                weights = list(_weights(rng, 3))
                weights[models.index(OPUS)] *= 0.3
                weights = [x / sum(weights) for x in weights]
                has_1h = rng.random() < 0.5
                key = AnthropicKey(
                    id=_rand_id(rng, "apikey_01", 22),
                    name=f"team-{w + 1:03d}-key-{k + 1}",
                    workspace_id=wid,
                    created_at=created + 86_400 * (50 + w + k),
                    models=models,
                    weights=tuple(weights),
                    input_per_request=rng.randint(3000, 12000),
                    output_per_request=rng.randint(150, 700),
                    cache_read=rng.uniform(0.10, 0.45),
                    cache_write_5m=rng.uniform(0.02, 0.08),
                    cache_write_1h=rng.uniform(0.005, 0.03) if has_1h else 0.0,
                    batch_share=0.0,
                    web_search_rate=rng.choice((0.0, rng.uniform(0.01, 0.06))),
                    long_context_share=0.0,
                )
                base = self._key_usd(rng) / self._anthropic_cost_per_request(key)
                keys.append(AnthropicKey(**{**key.__dict__, "base_requests": base}))
            out.append(Workspace(wid, wname, created + 86_400 * (50 + w), tuple(keys)))
        return out

    def _place_incidents(self, rng: random.Random, world_days: int) -> list[Incident]:
        kinds = ["runaway_agent_loop", "prompt_growth", "retry_storm", "model_switch"]
        rng.shuffle(kinds)
        last = world_days - 3  # latest start offset; leaves room for the 2-day incident
        room = last - INCIDENT_MIN_OFFSET
        if room < 0:
            return []
        k = min(len(kinds), room // INCIDENT_GAP + 1)
        slack = room - INCIDENT_GAP * (k - 1)
        jitter = sorted(rng.randint(0, slack) for _ in range(k))
        offsets = [INCIDENT_MIN_OFFSET + INCIDENT_GAP * i + jitter[i] for i in range(k)]
        okeys = [key for p in self.projects for key in p.keys if key.batch_share == 0]
        runaway_key, retry_key = rng.sample(okeys, 2)
        # The model switch hits the named workspace with the most haiku traffic (so it shows).
        switch_ws = max(
            (w for w in self.workspaces if w.id is not None),
            key=lambda w: (self._haiku_requests(w), rng.random()),
        )
        # The prompt-growth key: the most input-heavy key outside the model-switch workspace.
        candidates = [
            key for w in self.workspaces if w is not switch_ws for key in w.keys if key.id
        ]
        growth_key = max(candidates, key=self._anthropic_input_share)
        incidents: list[Incident] = []
        for i, (kind, off) in enumerate(zip(kinds, offsets, strict=False)):
            day = self.start + timedelta(days=off)
            iid = f"inc_{i + 1:02d}_{kind}"
            if kind == "runaway_agent_loop":
                inc = Incident(
                    iid,
                    kind,
                    "openai",
                    runaway_key.project_id,
                    runaway_key.id,
                    None,
                    day,
                    day + timedelta(days=2),
                    8.0,
                    f"Agent loop on key {runaway_key.name}: requests and tokens x8 for 2 days",
                )
            elif kind == "retry_storm":
                inc = Incident(
                    iid,
                    kind,
                    "openai",
                    retry_key.project_id,
                    retry_key.id,
                    None,
                    day,
                    day + timedelta(days=1),
                    5.0,
                    f"Retry storm on key {retry_key.name}: requests and tokens x5 for 1 day",
                )
            elif kind == "prompt_growth":
                inc = Incident(
                    iid,
                    kind,
                    "anthropic",
                    growth_key.workspace_id,
                    growth_key.id,
                    None,
                    day,
                    None,
                    3.0,
                    f"Prompt growth on key {growth_key.name}: input tokens per request x3 "
                    "from this day on",
                )
            else:
                inc = Incident(
                    iid,
                    kind,
                    "anthropic",
                    switch_ws.id,
                    None,
                    OPUS,
                    day,
                    None,
                    1.0,
                    f"Workspace {switch_ws.name} moves its {HAIKU} traffic to {OPUS}",
                )
            incidents.append(inc)
        incidents.sort(key=lambda x: x.start_date)
        return incidents

    @staticmethod
    def _haiku_requests(ws: Workspace) -> float:
        return sum(
            k.base_requests * w
            for k in ws.keys
            for m, w in zip(k.models, k.weights, strict=True)
            if m == HAIKU
        )

    def _anthropic_input_share(self, key: AnthropicKey) -> float:
        total = self._anthropic_cost_per_request(key)
        out = (
            sum(
                w
                * key.output_per_request
                * float(self.prices.price("anthropic", m, "output", "standard", "0-200k", EPOCH0))
                for m, w in zip(key.models, key.weights, strict=True)
            )
            / 1e6
        )
        return (total - out) / total

    # ---- public accessors ---------------------------------------------------------------
    @property
    def openai_keys(self) -> list[OpenAIKey]:
        """All OpenAI keys in a stable order."""
        return [k for p in self.projects for k in p.keys]

    @property
    def anthropic_keys(self) -> list[AnthropicKey]:
        """All Anthropic keys (Console pseudo-key included) in a stable order."""
        return [k for w in self.workspaces for k in w.keys]

    @property
    def incidents(self) -> list[Incident]:
        """Injected incidents, oldest first."""
        return list(self.incident_list)

    def days(self) -> list[date]:
        """All UTC days of the window."""
        return [self.start + timedelta(days=i) for i in range(self.n_days)]

    def price_book(self) -> list[dict[str, Any]]:
        """Dated list prices: {provider, model, token_class, service_tier, valid_from, ...}."""
        return [row.as_dict() for row in self._price_rows]

    def restate(self, provider: str, day: date, factor: float) -> None:
        """Scale one provider-day's usage and cost (a late restatement by the provider)."""
        if provider not in ("openai", "anthropic"):
            raise ValueError(f"unknown provider {provider!r}")
        with self._lock:
            self._restate[(provider, day)] = self._restate.get((provider, day), 1.0) * factor
            self._cache.pop(day, None)

    def day(self, day: date) -> DayData | None:
        """The (cached) data of one day, or None outside the window."""
        if not self.start <= day < self.end:
            return None
        with self._lock:
            data = self._cache.get(day)
            if data is None:
                data = self._generate(day)
                self._cache[day] = data
                if self.cache_limit is not None and len(self._cache) > self.cache_limit:
                    self._cache.popitem(last=False)  # least recently used
            elif self.cache_limit is not None:
                self._cache.move_to_end(day)
            return data

    @property
    def cached_days(self) -> int:
        """How many days are held in memory now (at most `cache_limit` when that is set)."""
        return len(self._cache)

    # ---- generation ---------------------------------------------------------------------
    def _scale(self, day: date) -> float:
        season = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        return season * (1 + GROWTH_PER_DAY * (day - self.start).days)

    def _generate(self, day: date) -> DayData:
        rng = rng_for(self.seed, "day", day.isoformat())
        scale = self._scale(day)
        o_scale = scale * self._restate.get(("openai", day), 1.0)
        a_scale = scale * self._restate.get(("anthropic", day), 1.0)
        ohours = self._gen_openai(rng, day, o_scale)
        ahours = self._gen_anthropic(rng, day, a_scale)
        data = DayData(
            ohours, _sum_rows(ohours, OPENAI_NDIM), ahours, _sum_rows(ahours, ANTHROPIC_NDIM)
        )
        if self._openai_block is not None and self._anthropic_block is not None:
            g = np_rng_for(self.seed, "scale", self.scale, "day", day.isoformat())
            for block, hours, daily, s in (
                (self._openai_block, data.openai_hours, data.openai_day, o_scale),
                (self._anthropic_block, data.anthropic_hours, data.anthropic_day, a_scale),
            ):
                extra_hours, extra_day = block.generate(g, s)
                for h in range(24):
                    hours[h].extend(extra_hours[h])
                daily.extend(extra_day)
        extras_scale = scale * self._restate.get(("openai", day), 1.0)
        data.openai_extras = openai_extras.generate(self.seed, day, extras_scale, self.projects)
        data.openai_costs = sorted(
            self._price_openai(day, data.openai_day) + openai_extras.cost_lines(data.openai_extras),
            key=lambda r: tuple("" if v is None else str(v) for v in r[:3]),
        )
        data.anthropic_costs = self._price_anthropic(day, data.anthropic_day)
        return data

    def _gen_openai(self, rng: random.Random, day: date, scale: float) -> list[list[tuple]]:
        hours: list[list[tuple]] = [[] for _ in range(24)]
        for key in (k for p in self._base_projects for k in p.keys):
            noise = rng.lognormvariate(0, DAY_SIGMA)
            ipr = round(key.input_per_request * rng.lognormvariate(0, 0.05))
            opr = round(key.output_per_request * rng.lognormvariate(0, 0.05))
            mult = 1.0
            for inc in self.incident_list:
                if inc.provider == "openai" and inc.api_key_id == key.id and inc.active(day):
                    mult *= inc.multiplier
            total = key.base_requests * scale * noise * mult
            hit = round(key.cache_hit * 1000)
            wrt = round(key.cache_write * 1000)
            for model, w in zip(key.models, key.weights, strict=True):
                parts = [(False, total * w * (1 - key.batch_share))]
                if key.batch_share:
                    parts.append((True, total * w * key.batch_share))
                for batch, req in parts:
                    dims = (key.project_id, key.id, model, batch)
                    for h, rq in enumerate(split_hours(round(req))):
                        if not rq:
                            continue
                        inp = rq * ipr
                        cached = 0 if batch else inp * hit // 1000
                        write = 0 if batch else inp * wrt // 1000
                        hours[h].append((*dims, rq, inp - cached - write, cached, write, rq * opr))
        return hours

    def _gen_anthropic(self, rng: random.Random, day: date, scale: float) -> list[list[tuple]]:
        hours: list[list[tuple]] = [[] for _ in range(24)]
        for ws in self._base_workspaces:
            switched = any(
                i.kind == "model_switch" and i.project_id == ws.id and i.active(day)
                for i in self.incident_list
            )
            for key in ws.keys:
                noise = rng.lognormvariate(0, DAY_SIGMA)
                in_mult = 1.0
                for inc in self.incident_list:
                    if inc.kind == "prompt_growth" and inc.api_key_id == key.id and inc.active(day):
                        in_mult *= inc.multiplier
                ipr = round(key.input_per_request * rng.lognormvariate(0, 0.05) * in_mult)
                opr = round(key.output_per_request * rng.lognormvariate(0, 0.05))
                long_ipr = rng.randint(210_000, 400_000)
                total = key.base_requests * scale * noise
                pm = [
                    round(x * 1000)
                    for x in (key.cache_read, key.cache_write_5m, key.cache_write_1h)
                ]
                web = round(key.web_search_rate * 1000)
                for model, w in zip(key.models, key.weights, strict=True):
                    eff = OPUS if switched and model == HAIKU else model
                    req = total * w
                    streams = [("standard", "0-200k", req * (1 - key.batch_share), ipr)]
                    if key.batch_share:
                        streams.append(("batch", "0-200k", req * key.batch_share, ipr))
                    if eff == SONNET and key.long_context_share:
                        streams.append(
                            ("standard", "200k-1M", req * key.long_context_share, long_ipr)
                        )
                    for tier, ctx, n, size in streams:
                        dims = (ws.id, key.id, eff, tier, ctx, "global")
                        for h, rq in enumerate(split_hours(round(n))):
                            if not rq:
                                continue
                            inp = rq * size
                            read, w5, w1 = (inp * p // 1000 for p in pm)
                            searches = rq * web // 1000 if tier == "standard" else 0
                            hours[h].append(
                                (*dims, inp - read - w5 - w1, w5, w1, read, rq * opr, searches, rq)
                            )
        return hours

    def _price_openai(self, day: date, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        lines: dict[tuple[str, str, str], list[Any]] = {}
        for project, key, model, batch, _req, uncached, cached, write, output in rows:
            tier = "batch" if batch else "default"
            prefix = "batch " if batch else ""
            parts = (
                (f"{model}, {prefix}input", uncached + write, "input"),
                (f"{model}, cached input", cached, "cached_input"),
                (f"{model}, {prefix}output", output, "output"),
            )
            for item, qty, cls in parts:
                if not qty:
                    continue
                price = self.prices.price("openai", model, cls, tier, None, day)
                acc = lines.setdefault((project, key, item), [0, Decimal(0)])
                acc[0] += qty
                acc[1] += qty * price / MILLION
        return [
            (p, k, item, qty, amount.quantize(TEN_DP))
            for (p, k, item), (qty, amount) in sorted(lines.items())
        ]

    def _price_anthropic(self, day: date, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        tokens: dict[tuple[Any, ...], int] = {}
        searches: dict[str | None, int] = {}
        for ws, _key, model, tier, ctx, geo, unc, w5, w1, read, out, web, _req in rows:
            for (ttype, _label, _cls), qty in zip(
                ANTHROPIC_TOKEN_TYPES, (unc, out, read, w5, w1), strict=True
            ):
                if qty:
                    k = (ws, model, ttype, tier, ctx, geo)
                    tokens[k] = tokens.get(k, 0) + qty
            if web:
                searches[ws] = searches.get(ws, 0) + web
        labels = {t: (label, cls) for t, label, cls in ANTHROPIC_TOKEN_TYPES}
        lines: list[tuple[Any, ...]] = []
        for (ws, model, ttype, tier, ctx, geo), qty in tokens.items():
            label, cls = labels[ttype]
            price = self.prices.price("anthropic", model, cls, tier, ctx, day)
            desc = f"{MODEL_DISPLAY[model]} Usage - {label}"
            if tier == "batch":
                desc += " (Batch)"
            if ctx == "200k-1M":
                desc += " (Long Context)"
            cents = (qty * price * HUNDRED / MILLION).quantize(SIX_DP)
            lines.append((ws, desc, "tokens", model, ttype, tier, ctx, geo, cents))
        for ws, n in searches.items():
            price = self.prices.price("anthropic", None, "web_search", None, None, day)
            cents = (n * price * HUNDRED / MILLION).quantize(SIX_DP)
            lines.append(
                (ws, "Web Search Usage", "web_search", None, None, None, None, None, cents)
            )
        lines.sort(key=lambda r: tuple("" if v is None else str(v) for v in r[:8]))
        return lines

    # ---- ground truth -------------------------------------------------------------------
    def daily_totals(self) -> list[dict[str, Any]]:
        """Per provider-day truth; cost is the exact sum of the serialized cost lines.

        Streams: each day is generated (or taken from the cache) once and reduced to its two
        rows, so the window is never held in memory at once. OpenAI rows come first."""
        by_provider: dict[str, list[dict[str, Any]]] = {"openai": [], "anthropic": []}
        for day in self.days():
            data = self.day(day)
            assert data is not None
            for provider, out in by_provider.items():
                if provider == "openai":
                    cost = sum((r[4] for r in data.openai_costs), Decimal(0))
                    rows = data.openai_day
                    # embedding and moderation input counts as input, like completions input
                    inp = sum(r[5] for r in rows) + sum(
                        x.metric("input_tokens") for x in data.openai_extras
                    )
                    cached = sum(r[6] for r in rows)
                    write = sum(r[7] for r in rows)
                    output = sum(r[8] for r in rows)
                    req = sum(r[4] for r in rows) + sum(
                        x.metric("num_model_requests") for x in data.openai_extras
                    )
                else:
                    cost = sum((r[8] for r in data.anthropic_costs), Decimal(0)) / HUNDRED
                    rows = data.anthropic_day
                    inp = sum(r[6] for r in rows)
                    write = sum(r[7] + r[8] for r in rows)
                    cached = sum(r[9] for r in rows)
                    output = sum(r[10] for r in rows)
                    req = sum(r[12] for r in rows)
                out.append(
                    {
                        "provider": provider,
                        "date": day.isoformat(),
                        "billed_cost_usd": cost,
                        "input_tokens": inp,
                        "cached_input_tokens": cached,
                        "cache_write_tokens": write,
                        "output_tokens": output,
                        "requests": req,
                    }
                )
        return by_provider["openai"] + by_provider["anthropic"]


EPOCH0 = date(2025, 1, 1)


def _per_mille(values: list[float]) -> np.ndarray:
    return np.array([round(v * 1000) for v in values], dtype=np.int64)


def _rows(dims: list[list[Any]], metrics: list[np.ndarray]) -> list[tuple[Any, ...]]:
    """Tuples (dims..., metrics...) from per-row dimension lists and int64 metric arrays."""
    return list(zip(*dims, *(m.tolist() for m in metrics), strict=True))


@dataclass(frozen=True)
class _OpenAIBlock:
    """The keys a scale adds, as arrays: K keys x 3 models, generated a day at a time."""

    dims: list[list[Any]]  # project_id, api_key_id, model, batch: one entry per (key, model)
    base: np.ndarray  # (K,) requests a weekday at the window start
    weights: np.ndarray  # (K, M)
    ipr: np.ndarray  # (K,) input tokens per request
    opr: np.ndarray
    hit: np.ndarray  # (K,) per mille
    write: np.ndarray

    @classmethod
    def build(cls, keys: list[OpenAIKey]) -> _OpenAIBlock:
        flat = [(k.project_id, k.id, m, False) for k in keys for m in k.models]
        return cls(
            dims=[list(col) for col in zip(*flat, strict=True)] if flat else [[], [], [], []],
            base=np.array([k.base_requests for k in keys], dtype=float),
            weights=np.array([k.weights for k in keys], dtype=float).reshape(len(keys), -1),
            ipr=np.array([k.input_per_request for k in keys], dtype=float),
            opr=np.array([k.output_per_request for k in keys], dtype=float),
            hit=_per_mille([k.cache_hit for k in keys]),
            write=_per_mille([k.cache_write for k in keys]),
        )

    def generate(
        self, g: np.random.Generator, scale: float
    ) -> tuple[list[list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
        """(rows per hour, rows of the day) with the row layout of `_gen_openai`."""
        req, inp, opr = _day_volume(g, scale, self.base, self.weights, self.ipr, self.opr)
        cached = inp * self.hit[:, None, None] // 1000
        write = inp * self.write[:, None, None] // 1000
        metrics = [req, inp - cached - write, cached, write, req * opr]  # (K, M, 24) each
        return _split_rows(self.dims, metrics)


@dataclass(frozen=True)
class _AnthropicBlock:
    """Anthropic keys a scale adds (standard tier, 0-200k context, 3 models each)."""

    dims: list[list[Any]]  # workspace_id, api_key_id, model, tier, context, geo
    base: np.ndarray
    weights: np.ndarray
    ipr: np.ndarray
    opr: np.ndarray
    read: np.ndarray  # per mille
    w5: np.ndarray
    w1: np.ndarray
    web: np.ndarray

    @classmethod
    def build(cls, keys: list[AnthropicKey]) -> _AnthropicBlock:
        flat = [
            (k.workspace_id, k.id, m, "standard", "0-200k", "global")
            for k in keys
            for m in k.models
        ]
        return cls(
            dims=[list(col) for col in zip(*flat, strict=True)] if flat else [[]] * 6,
            base=np.array([k.base_requests for k in keys], dtype=float),
            weights=np.array([k.weights for k in keys], dtype=float).reshape(len(keys), -1),
            ipr=np.array([k.input_per_request for k in keys], dtype=float),
            opr=np.array([k.output_per_request for k in keys], dtype=float),
            read=_per_mille([k.cache_read for k in keys]),
            w5=_per_mille([k.cache_write_5m for k in keys]),
            w1=_per_mille([k.cache_write_1h for k in keys]),
            web=_per_mille([k.web_search_rate for k in keys]),
        )

    def generate(
        self, g: np.random.Generator, scale: float
    ) -> tuple[list[list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
        """(rows per hour, rows of the day) with the row layout of `_gen_anthropic`."""
        req, inp, opr = _day_volume(g, scale, self.base, self.weights, self.ipr, self.opr)
        read, w5, w1 = (inp * p[:, None, None] // 1000 for p in (self.read, self.w5, self.w1))
        web = req * self.web[:, None, None] // 1000
        metrics = [inp - read - w5 - w1, w5, w1, read, req * opr, web, req]
        return _split_rows(self.dims, metrics)


def _day_volume(
    g: np.random.Generator,
    scale: float,
    base: np.ndarray,
    weights: np.ndarray,
    ipr: np.ndarray,
    opr: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(requests, input tokens, output tokens per request) of a day, (K, M, 24) / (K, 1, 1):
    one day's noise per key, then the tokens per request, drawn in that order."""
    k = len(base)
    noise = g.lognormal(0, DAY_SIGMA, k)
    ipr_day = np.rint(ipr * g.lognormal(0, 0.05, k)).astype(np.int64)[:, None, None]
    opr_day = np.rint(opr * g.lognormal(0, 0.05, k)).astype(np.int64)[:, None, None]
    day_req = np.rint(base[:, None] * scale * noise[:, None] * weights)
    req = split_hours_np(np.maximum(day_req.astype(np.int64), MIN_DAY_REQUESTS))
    return req, req * ipr_day, opr_day


def _split_rows(
    dims: list[list[Any]], metrics: list[np.ndarray]
) -> tuple[list[list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
    """Hourly and daily row tuples from (K, M, 24) metric arrays; every hour is non-empty
    (MIN_DAY_REQUESTS), so each (key, model) has 24 hourly rows and one daily row."""
    n = len(dims[0])
    by_hour = [m.reshape(n, 24).T for m in metrics]  # (24, K*M)
    hours = [_rows(dims, [m[h] for m in by_hour]) for h in range(24)]
    day = _rows(dims, [m.reshape(n, 24).sum(axis=1) for m in metrics])
    return hours, day
