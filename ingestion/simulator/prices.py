"""Dated list prices (USD per 1M tokens) used to price the simulated usage.

Figures follow section 9 of provider-formats.md. The table is dated so that a pipeline can be
tested against a list-price change inside the simulated window: `build_price_book` adds one
such change (gpt-4.1 input and output -20%) on the window's middle day.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

D = Decimal
MILLION = D(1_000_000)
BATCH_DISCOUNT = D("0.5")
EPOCH = date(2024, 1, 1)

# OpenAI: model -> (input, cached input, output); cache writes are billed at the input price.
OPENAI_LIST: dict[str, tuple[str, str, str]] = {
    "gpt-4o-2024-08-06": ("2.50", "1.25", "10.00"),
    "gpt-4o-mini-2024-07-18": ("0.15", "0.075", "0.60"),
    "gpt-4.1-2025-04-14": ("2.00", "0.50", "8.00"),
    "gpt-4.1-mini-2025-04-14": ("0.40", "0.10", "1.60"),
    "o3-2025-04-16": ("2.00", "0.50", "8.00"),
}
# o3 was 10 / 2.50 / 40 until 2025-06-10 (real history, kept so the table is genuinely dated).
O3_BEFORE = ("10.00", "2.50", "40.00")
O3_CHANGE = date(2025, 6, 10)

# Anthropic: model -> (input, output); cache read 0.1x, 5m write 1.25x, 1h write 2x input.
ANTHROPIC_LIST: dict[str, tuple[str, str]] = {
    "claude-sonnet-4-20250514": ("3.00", "15.00"),
    "claude-haiku-4-5-20251001": ("1.00", "5.00"),
    "claude-opus-4-1-20250805": ("15.00", "75.00"),
}
# 1M-context beta (prompts > 200k tokens): only Sonnet 4.
ANTHROPIC_LONG_CONTEXT: dict[str, tuple[str, str]] = {
    "claude-sonnet-4-20250514": ("6.00", "22.50"),
}
ANTHROPIC_CLASS_MULT = {
    "input": D("1"),
    "cached_input": D("0.1"),
    "cache_write_5m": D("1.25"),
    "cache_write_1h": D("2"),
}
WEB_SEARCH_USD_PER_MILLION = D("10000")  # $10 per 1,000 searches

# The in-window list-price change (applied on the window's middle day).
CHANGED_MODEL = "gpt-4.1-2025-04-14"
CHANGE_FACTOR = D("0.8")

PriceKey = tuple[str, str | None, str, str | None, str | None]


@dataclass(frozen=True)
class PriceRow:
    """One dated list price; `valid_to` is exclusive, None = open-ended."""

    provider: str
    model: str | None
    token_class: str
    service_tier: str | None
    context_window: str | None
    valid_from: date
    valid_to: date | None
    usd_per_million: Decimal
    unit: str = "tokens"

    def as_dict(self) -> dict[str, Any]:
        """Dict form used by `SyntheticOrg.price_book()` (dates as ISO strings)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "token_class": self.token_class,
            "service_tier": self.service_tier,
            "context_window": self.context_window,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "usd_per_million": self.usd_per_million,
            "unit": self.unit,
        }


def _openai_rows(change_day: date) -> list[PriceRow]:
    rows: list[PriceRow] = []
    for model, prices in OPENAI_LIST.items():
        periods: list[tuple[date, date | None, tuple[Decimal, Decimal, Decimal]]]
        base = (D(prices[0]), D(prices[1]), D(prices[2]))
        if model == CHANGED_MODEL:
            cut = (base[0] * CHANGE_FACTOR, base[1], base[2] * CHANGE_FACTOR)
            periods = [(EPOCH, change_day, base), (change_day, None, cut)]
        elif model.startswith("o3-"):
            old = (D(O3_BEFORE[0]), D(O3_BEFORE[1]), D(O3_BEFORE[2]))
            periods = [(EPOCH, O3_CHANGE, old), (O3_CHANGE, None, base)]
        else:
            periods = [(EPOCH, None, base)]
        for start, end, (inp, cached, out) in periods:
            for tier, mult in (("default", D(1)), ("batch", BATCH_DISCOUNT)):
                for cls, price in (
                    ("input", inp),
                    ("cached_input", cached),
                    ("cache_write", inp),
                    ("output", out),
                ):
                    rows.append(
                        PriceRow("openai", model, cls, tier, None, start, end, price * mult)
                    )
    return rows


def _anthropic_rows() -> list[PriceRow]:
    rows: list[PriceRow] = []
    for model, (inp_s, out_s) in ANTHROPIC_LIST.items():
        windows = [("0-200k", (inp_s, out_s))]
        if model in ANTHROPIC_LONG_CONTEXT:
            windows.append(("200k-1M", ANTHROPIC_LONG_CONTEXT[model]))
        for ctx, (i_s, o_s) in windows:
            inp, out = D(i_s), D(o_s)
            for tier, mult in (("standard", D(1)), ("batch", BATCH_DISCOUNT)):
                for cls, cmult in ANTHROPIC_CLASS_MULT.items():
                    price = inp * cmult * mult
                    rows.append(PriceRow("anthropic", model, cls, tier, ctx, EPOCH, None, price))
                rows.append(
                    PriceRow("anthropic", model, "output", tier, ctx, EPOCH, None, out * mult)
                )
    rows.append(
        PriceRow(
            "anthropic",
            None,
            "web_search",
            None,
            None,
            EPOCH,
            None,
            WEB_SEARCH_USD_PER_MILLION,
            "requests",
        )
    )
    return rows


def build_price_book(change_day: date) -> list[PriceRow]:
    """The full dated price table with the gpt-4.1 cut on `change_day`."""
    return _openai_rows(change_day) + _anthropic_rows()


class PriceLookup:
    """Fast `(provider, model, class, tier, context) @ day -> USD per 1M` lookup."""

    def __init__(self, rows: list[PriceRow]) -> None:
        table: dict[PriceKey, list[PriceRow]] = {}
        for row in rows:
            key = (row.provider, row.model, row.token_class, row.service_tier, row.context_window)
            table.setdefault(key, []).append(row)
        self._starts: dict[PriceKey, list[date]] = {}
        self._rows: dict[PriceKey, list[PriceRow]] = {}
        for key, lst in table.items():
            lst.sort(key=lambda r: r.valid_from)
            self._rows[key] = lst
            self._starts[key] = [r.valid_from for r in lst]

    def price(
        self,
        provider: str,
        model: str | None,
        token_class: str,
        service_tier: str | None,
        context_window: str | None,
        day: date,
    ) -> Decimal:
        """List price valid on `day`; KeyError when no price applies (a simulator bug)."""
        key = (provider, model, token_class, service_tier, context_window)
        idx = bisect_right(self._starts[key], day) - 1
        row = self._rows[key][idx]
        if idx < 0 or (row.valid_to is not None and day >= row.valid_to):
            raise KeyError(f"no price for {key} on {day}")
        return row.usd_per_million
