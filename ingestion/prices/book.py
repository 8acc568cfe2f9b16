"""A dated list-price book for the (provider, model) pairs seen in the spend data.

Prices come from genai-prices, whose community-maintained data (dated price changes,
long-context tiers, batch prices) ship inside the wheel, so a build is reproducible and offline.
Only that bundled snapshot is read: `genai_prices.data.providers`, wrapped in our own
`DataSnapshot`. `UpdatePrices` (the one code path that fetches over HTTP) is never started, and
`genai_prices.calc_price`/`get_snapshot()` are not used because they would pick up a snapshot
that other code in the process fetched.

A model genai-prices cannot match gets NO rows: the SQL side marks its usage `unpriced`, which is
honest, where a price of 0 would silently understate spend. Overrides (see overrides.py) win over
the list price inside their own dates only, so a past day keeps the price it had that day.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

import pandas as pd
from genai_prices.data import providers as _bundled_providers
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from ingestion.prices.overrides import SERVICE_TIERS, TOKEN_CLASSES, Override

log = logging.getLogger(__name__)

# "Since forever": genai-prices' first price of a model has no start date.
FLOOR = date(2000, 1, 1)
# Our provider names -> genai-prices provider ids. genai-prices itself falls back from azure to
# openai/anthropic/... and from google to anthropic (`fallback_model_providers`).
PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws_bedrock": "aws",
    "gcp_vertex": "google",
    "azure_openai": "azure",
    "cursor": "cursor",
}
# First-party Batch APIs bill 50% of standard; used where genai-prices has no batch price.
HALF_PRICE_BATCH = frozenset({"openai", "anthropic"})
# Cursor bills per request in its own plans: there is no batch tier to price.
NO_BATCH = frozenset({"cursor"})
BATCH_CONTEXT = {"processing": "batch"}
LIST_SOURCE = "genai-prices"
OVERRIDE_SOURCE = "override"

PRICE_BOOK_COLUMNS = (
    "provider",
    "model",
    "token_class",
    "service_tier",
    "tier_min_input_tokens",
    "valid_from",
    "valid_to",
    "usd_per_million",
    "unit",
    "price_source",
    "matched_model_id",
    "matched_provider_id",
    "override_id",
    "note",
)
# The types the frame's columns are meant to have in the warehouse: DuckDB reads the frame as
# VARCHAR / BIGINT / TIMESTAMP, and a staging model casts to these (see README.md).
PRICE_BOOK_SQL_TYPES: dict[str, str] = {
    **{c: "VARCHAR" for c in PRICE_BOOK_COLUMNS},
    "tier_min_input_tokens": "BIGINT",
    "valid_from": "DATE",
    "valid_to": "DATE",
    "usd_per_million": "DECIMAL(38, 12)",
}
_TEXT_COLUMNS = tuple(c for c in PRICE_BOOK_COLUMNS if PRICE_BOOK_SQL_TYPES[c] == "VARCHAR")
_SCALE = Decimal("1e-12")  # DECIMAL(38, 12)

# token class -> (genai-prices price keys, first present wins; factor to "per 1M"; unit).
# cache_write_mtok is Anthropic's default (5-minute) cache write.
_CLASS_KEYS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "input": (("input_mtok",), 1, "tokens"),
    "cached_input": (("cache_read_mtok",), 1, "tokens"),
    "cache_write_5m": (("cache_write_5m_mtok", "cache_write_mtok"), 1, "tokens"),
    "cache_write_1h": (("cache_write_1h_mtok",), 1, "tokens"),
    "output": (("output_mtok",), 1, "tokens"),
    "web_search": (("web_searches_kcount",), 1000, "requests"),
}
assert tuple(_CLASS_KEYS) == TOKEN_CLASSES

# Bill spellings genai-prices does not know, tried only after the string as written:
# Cursor's "claude-4.5-sonnet" is Anthropic's "claude-sonnet-4.5"; Bedrock usage types give
# "nova-lite" for the model id "amazon.nova-lite-v1:0".
_CLAUDE_VERSION_FIRST = re.compile(
    r"^claude-(?P<version>\d+(?:\.\d+)?)-(?P<family>opus|sonnet|haiku)(?P<rest>.*)$"
)
_AMAZON_FIRST_PARTY = re.compile(r"^(nova|titan)-")

Price = Decimal | TieredPrices


@dataclass(frozen=True)
class Match:
    """Which genai-prices model prices an observed (provider, model)."""

    provider: str
    model: str
    matched_provider_id: str
    """genai-prices provider that lists the model (e.g. `openai` for an Azure deployment)."""
    matched_model_id: str
    lookup_provider_id: str
    """genai-prices provider the lookup started from: ours mapped, or inferred from the name."""
    matched_ref: str
    """The string genai-prices matched: the observed one lower-cased, or a rewrite of it."""
    how: str
    """`provider` (listed by the mapped provider), `fallback` (genai-prices' fallback
    providers), or `model_name` (provider inferred from the model name, as genai-prices does
    when no provider is given)."""
    model_info: ModelInfo = field(repr=False, compare=False)

    @property
    def variants_apply(self) -> bool:
        """genai-prices ignores price variants (batch...) for a model reached by fallback."""
        return self.how != "fallback"


@dataclass(frozen=True)
class _Seg:
    valid_from: date
    valid_to: date | None
    usd_per_million: Decimal
    price_source: str
    override_id: str | None
    note: str


@cache
def _snapshot() -> DataSnapshot:
    """The bundled data only; never `get_snapshot()`, which may hold fetched data."""
    return DataSnapshot(providers=list(_bundled_providers), from_auto_update=False)


@cache
def _owners() -> dict[int, Provider]:
    return {id(m): p for p in _snapshot().providers for m in p.models}


def _provider(provider_id: str | None) -> Provider | None:
    return next((p for p in _snapshot().providers if p.id == provider_id), None)


def _candidates(provider: str, model: str) -> list[str]:
    ref = model.strip().lower()
    refs = [ref]
    if m := _CLAUDE_VERSION_FIRST.match(ref):
        refs.append(f"claude-{m['family']}-{m['version']}{m['rest']}")
    if provider == "aws_bedrock" and _AMAZON_FIRST_PARTY.match(ref):
        refs.append(f"amazon.{ref}")
    return list(dict.fromkeys(refs))


@cache
def resolve_model(provider: str, model: str) -> Match | None:
    """Match a bill's model string with genai-prices' own rules; None if nothing matches.

    First the genai-prices provider mapped from ours (`Provider.find_model`, which follows its
    fallback providers), then the provider genai-prices infers from the model name
    (`DataSnapshot.find_provider`), each for the string as written and then its rewrites.
    """
    snapshot = _snapshot()
    candidates = _candidates(provider, model)
    lookup = _provider(PROVIDER_IDS.get(provider))
    if lookup is not None:
        for ref in candidates:
            if info := lookup.find_model(ref, all_providers=snapshot.providers):
                return _match(provider, model, lookup, ref, info, inferred=False)
    for ref in candidates:
        try:
            inferred = snapshot.find_provider(ref, None, None)
        except LookupError:
            continue
        if lookup is not None and inferred.id == lookup.id:
            continue
        if info := inferred.find_model(ref, all_providers=snapshot.providers):
            return _match(provider, model, inferred, ref, info, inferred=True)
    return None


def _match(
    provider: str, model: str, lookup: Provider, ref: str, info: ModelInfo, *, inferred: bool
) -> Match:
    own = any(info is m for m in lookup.models)
    return Match(
        provider=provider,
        model=model,
        matched_provider_id=_owners()[id(info)].id,
        matched_model_id=info.id,
        lookup_provider_id=lookup.id,
        matched_ref=ref,
        how="fallback" if not own else "model_name" if inferred else "provider",
        model_info=info,
    )


# --------------------------------------------------------------------------- list prices


def _without_time_of_day(info: ModelInfo) -> tuple[ModelInfo, bool]:
    """Drop time-of-day prices (e.g. DeepSeek off-peak): a daily book cannot hold them."""
    prices, had = info.prices, False
    if isinstance(prices, list):
        kept = [c for c in prices if not isinstance(c.constraint, TimeOfDateConstraint)]
        if len(kept) != len(prices):
            had = True
            prices = kept or [dataclasses.replace(prices[0], constraint=None)]
    variants = info.price_variants
    if variants:
        kept_variants = [v for v in variants if not isinstance(v.constraint, TimeOfDateConstraint)]
        had = had or len(kept_variants) != len(variants)
        variants = kept_variants
    if not had:
        return info, False
    return dataclasses.replace(info, prices=prices, price_variants=variants), True


def _boundaries(info: ModelInfo) -> list[date]:
    """Days on which some price of the model may change (genai-prices start_date constraints)."""
    days = {FLOOR}
    conditional = info.prices if isinstance(info.prices, list) else []
    for item in [*conditional, *(info.price_variants or [])]:
        if isinstance(item.constraint, StartDateConstraint) and item.constraint.start_date > FLOOR:
            days.add(item.constraint.start_date)
    return sorted(days)


def _scale(value: Price, factor: Decimal | int) -> Price:
    if isinstance(value, TieredPrices):
        return TieredPrices(
            base=value.base * factor,
            tiers=[dataclasses.replace(t, price=t.price * factor) for t in value.tiers],
        )
    return value * factor


def _tiers(value: Price) -> list[tuple[int, Decimal]]:
    if isinstance(value, TieredPrices):
        return [(0, value.base), *((t.start, t.price) for t in value.tiers)]
    return [(0, value)]


def _class_prices(prices: ModelPrice) -> dict[str, tuple[Price, str]]:
    """token class -> (price per 1M, the genai-prices key it came from)."""
    found: dict[str, tuple[Price, str]] = {}
    for token_class, (keys, factor, _unit) in _CLASS_KEYS.items():
        for key in keys:
            value = prices.__dict__.get(key)
            if value is not None:
                found[token_class] = (_scale(value, factor), key)
                break
    return found


def _derive_1h(prices: dict[str, tuple[Price, str]], claude: bool) -> None:
    """Anthropic's published rule: a 1-hour cache write costs 2x the base input price."""
    if claude and "cache_write_1h" not in prices and {"cache_write_5m", "input"} <= prices.keys():
        prices["cache_write_1h"] = (
            _scale(prices["input"][0], 2),
            "1h cache write = 2x input (Anthropic's rule; genai-prices has no 1h price)",
        )


def _prices_on(
    match: Match, info: ModelInfo, day: date
) -> dict[tuple[str, str], tuple[Price, str]]:
    """(token class, service tier) -> (price, note) in force on `day`."""
    when = datetime.combine(day, time(12), tzinfo=UTC)
    claude = "claude" in match.matched_model_id
    standard = {
        c: (v, "genai-prices list price")
        for c, (v, _k) in _class_prices(info.get_prices(when)).items()
    }
    _derive_1h(standard, claude)
    found = {(c, "standard"): pn for c, pn in standard.items()}
    if match.provider in NO_BATCH:
        return found

    batch_variants = [
        v
        for v in (info.price_variants or [])
        if v.when == BATCH_CONTEXT and (v.constraint is None or v.constraint.active(when))
    ]
    if not match.variants_apply:
        batch_variants = []
    batch: dict[str, tuple[Price, str]] = {}
    if batch_variants:
        batch_keys = {
            k for v in batch_variants for k, p in v.prices.__dict__.items() if p is not None
        }
        for c, (v, key) in _class_prices(info.get_prices(when, BATCH_CONTEXT)).items():
            note = (
                "genai-prices batch price"
                if key in batch_keys
                else "genai-prices has no batch rate for this class: standard price"
            )
            batch[c] = (v, note)
        _derive_1h(batch, claude)
    elif match.provider in HALF_PRICE_BATCH:
        for c, (v, note) in standard.items():
            if c == "web_search":
                batch[c] = (v, "batch web search at the standard price (no published batch rate)")
            else:
                batch[c] = (
                    _scale(v, Decimal("0.5")),
                    f"batch = 50% of standard ({note}); genai-prices has no batch price this day",
                )
    found.update({(c, "batch"): pn for c, pn in batch.items()})
    return found


def _merge(segments: list[_Seg]) -> list[_Seg]:
    merged: list[_Seg] = []
    for seg in sorted(segments, key=lambda s: s.valid_from):
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.valid_to == seg.valid_from
            and (prev.usd_per_million, prev.price_source, prev.override_id, prev.note)
            == (seg.usd_per_million, seg.price_source, seg.override_id, seg.note)
        ):
            merged[-1] = dataclasses.replace(prev, valid_to=seg.valid_to)
        else:
            merged.append(seg)
    return merged


Key = tuple[str, str, int]  # token class, service tier, tier_min_input_tokens


def _list_segments(match: Match) -> dict[Key, list[_Seg]]:
    info, had_time_of_day = _without_time_of_day(match.model_info)
    days = _boundaries(info)
    segments: dict[Key, list[_Seg]] = defaultdict(list)
    for i, day in enumerate(days):
        end = days[i + 1] if i + 1 < len(days) else None
        for (token_class, tier), (value, note) in _prices_on(match, info, day).items():
            if had_time_of_day:
                note += "; genai-prices time-of-day prices ignored (unconstrained price used)"
            for tier_min, price in _tiers(value):
                tier_note = note
                if tier_min:
                    tier_note += (
                        f"; long-context tier: requests with more than {tier_min} input tokens"
                    )
                segments[(token_class, tier, tier_min)].append(
                    _Seg(day, end, price, LIST_SOURCE, None, tier_note)
                )
    return {key: _merge(segs) for key, segs in segments.items()}


# --------------------------------------------------------------------------- overrides


def _override_note(o: Override, what: str) -> str:
    return f"override {o.override_id}: {what}" + (f"; {o.note}" if o.note else "")


def _cut(seg: _Seg, overrides: list[Override], used: set[str]) -> list[_Seg]:
    """Split a list-price segment around the overrides that cover its class and tier."""
    pieces = [seg]
    for o in overrides:
        kept: list[_Seg] = []
        for piece in pieces:
            lo = max(piece.valid_from, o.valid_from)
            hi = _earliest_end(piece.valid_to, o.valid_to)
            if piece.price_source != LIST_SOURCE or (hi is not None and lo >= hi):
                kept.append(piece)
                continue
            used.add(o.override_id)
            if piece.valid_from < lo:
                kept.append(dataclasses.replace(piece, valid_to=lo))
            if o.discount_pct is not None:
                what = f"{o.discount_pct}% off {piece.usd_per_million} ({piece.note})"
                kept.append(
                    _Seg(
                        lo,
                        hi,
                        o.discounted(piece.usd_per_million),
                        OVERRIDE_SOURCE,
                        o.override_id,
                        _override_note(o, what),
                    )
                )
            if hi is not None and (piece.valid_to is None or hi < piece.valid_to):
                kept.append(dataclasses.replace(piece, valid_from=hi))
        pieces = kept
    return pieces


def _earliest_end(a: date | None, b: date | None) -> date | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def _apply_overrides(
    segments: dict[Key, list[_Seg]], overrides: list[Override], matched: bool
) -> dict[Key, list[_Seg]]:
    """Overrides win inside their own period; absolute prices replace every long-context tier."""
    used: set[str] = set()
    result: dict[Key, list[_Seg]] = defaultdict(list)
    for (token_class, tier, tier_min), segs in segments.items():
        covering = [o for o in overrides if o.covers(token_class, tier)]
        for seg in segs:
            result[(token_class, tier, tier_min)].extend(_cut(seg, covering, used))
    for o in overrides:
        if o.usd_per_million is None:
            continue
        used.add(o.override_id)
        what = "absolute price" + (
            " replacing the genai-prices price" if matched else " (model not in genai-prices)"
        )
        for tier in o.service_tiers:
            result[(o.token_class, tier, 0)].append(
                _Seg(
                    o.valid_from,
                    o.valid_to,
                    o.usd_per_million,
                    OVERRIDE_SOURCE,
                    o.override_id,
                    _override_note(o, what),
                )
            )
    for o in overrides:
        if o.override_id not in used:
            log.warning(
                "price override %s (%s) discounts no list price: %s %s has no genai-prices "
                "price for that class, tier and period",
                o.override_id,
                o.source,
                o.provider,
                o.model,
            )
    return {key: _merge(segs) for key, segs in result.items()}


# --------------------------------------------------------------------------- the book


def price_book_rows(
    observed: Iterable[tuple[str, str]],
    overrides: Sequence[Override] = (),
    start: date | None = None,
    end: date | None = None,
) -> list[dict[str, Any]]:
    """One row per observed (provider, model) x token class x period x tier x service tier.

    Periods are full history (genai-prices' first price from FLOOR), never clipped. `start` and
    `end`, if given, only drop rows whose whole period lies outside [start, end).
    """
    rows: list[dict[str, Any]] = []
    pairs = ((p, m) for p, m in observed if isinstance(p, str) and isinstance(m, str) and m)
    for provider, model in dict.fromkeys(pairs):  # None/NA models (credits, tax) have no price
        match = resolve_model(provider, model)
        if match is None:
            log.info("no genai-prices match for %s %r: no price rows (unpriced)", provider, model)
        mine = [o for o in overrides if o.matches(provider, model)]
        segments = _list_segments(match) if match else {}
        segments = _apply_overrides(segments, mine, matched=match is not None)
        for (token_class, tier, tier_min), segs in sorted(segments.items(), key=_key_order):
            for seg in segs:
                if start is not None and seg.valid_to is not None and seg.valid_to <= start:
                    continue
                if end is not None and seg.valid_from >= end:
                    continue
                rows.append(
                    {
                        "provider": provider,
                        "model": model,
                        "token_class": token_class,
                        "service_tier": tier,
                        "tier_min_input_tokens": tier_min,
                        "valid_from": seg.valid_from,
                        "valid_to": seg.valid_to,
                        "usd_per_million": seg.usd_per_million,
                        "unit": _CLASS_KEYS[token_class][2],
                        "price_source": seg.price_source,
                        "matched_model_id": match.matched_model_id if match else None,
                        "matched_provider_id": match.matched_provider_id if match else None,
                        "override_id": seg.override_id,
                        "note": seg.note,
                    }
                )
    return rows


def _key_order(item: tuple[Key, list[_Seg]]) -> tuple[int, int, int]:
    (token_class, tier, tier_min), _segs = item
    return TOKEN_CLASSES.index(token_class), SERVICE_TIERS.index(tier), tier_min


def price_book_frame(
    observed: Iterable[tuple[str, str]],
    overrides: Sequence[Override] = (),
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """`price_book_rows` as a DataFrame whose DuckDB types do not depend on the data.

    DuckDB infers an object column's type from its values (all-None or empty -> INTEGER), so:
    text is pandas `string` (VARCHAR), dates are datetime64[us] (TIMESTAMP; cast to DATE), and
    usd_per_million is a fixed-point string with 12 decimals (VARCHAR) that casts to
    DECIMAL(38, 12) exactly.
    """
    rows = price_book_rows(observed, overrides, start, end)
    data: dict[str, pd.Series] = {}
    for column in _TEXT_COLUMNS:
        data[column] = pd.Series([r[column] for r in rows], dtype="string")
    data["tier_min_input_tokens"] = pd.Series(
        [r["tier_min_input_tokens"] for r in rows], dtype="int64"
    )
    for column in ("valid_from", "valid_to"):
        data[column] = pd.Series(
            [pd.NaT if r[column] is None else pd.Timestamp(r[column]) for r in rows],
            dtype="datetime64[us]",
        )
    data["usd_per_million"] = pd.Series(
        [format(r["usd_per_million"].quantize(_SCALE), "f") for r in rows], dtype="string"
    )
    return pd.DataFrame(data, columns=list(PRICE_BOOK_COLUMNS))
