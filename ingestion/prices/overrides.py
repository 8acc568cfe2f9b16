"""Price overrides: negotiated discounts and prices for models genai-prices does not list.

`config/price_overrides.csv` is edited by a FinOps team in a spreadsheet, so it is CSV and every
error names the file, the line and the field. An override either replaces the list price with an
absolute `usd_per_million` (custom or fine-tuned models, contract prices) or takes `discount_pct`
off the list price, for `[valid_from, valid_to)`. At most one override may apply to a price on a
given day: overlaps are rejected on load rather than resolved by a precedence rule nobody reads.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

# The vocabulary of the price book (shared with book.py, which imports it from here).
TOKEN_CLASSES = (
    "input",
    "cached_input",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "web_search",
)
SERVICE_TIERS = ("standard", "batch")
PROVIDERS = ("openai", "anthropic", "aws_bedrock", "gcp_vertex", "azure_openai", "cursor")
WILDCARD = "*"
OVERRIDE_COLUMNS = (
    "override_id",
    "provider",
    "model",
    "token_class",
    "service_tier",
    "valid_from",
    "valid_to",
    "usd_per_million",
    "discount_pct",
    "note",
)
_REQUIRED_COLUMNS = frozenset(OVERRIDE_COLUMNS) - {"note"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HUNDRED = Decimal(100)
_Fail = Callable[[str, str], "PriceOverrideError"]


class PriceOverrideError(ValueError):
    """price_overrides.csv is malformed; the message names file, line and field."""

    def __init__(self, path: str, line: int, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        super().__init__(f"{path} line {line}: {message}")


@dataclass(frozen=True)
class Override:
    """One validated line of price_overrides.csv; `valid_to` is exclusive, None = open."""

    override_id: str
    provider: str
    model: str
    token_class: str
    service_tier: str
    valid_from: date
    valid_to: date | None
    usd_per_million: Decimal | None
    discount_pct: Decimal | None
    note: str | None = None
    source: str = ""

    @property
    def is_discount(self) -> bool:
        return self.discount_pct is not None

    @property
    def token_classes(self) -> tuple[str, ...]:
        return TOKEN_CLASSES if self.token_class == WILDCARD else (self.token_class,)

    @property
    def service_tiers(self) -> tuple[str, ...]:
        return SERVICE_TIERS if self.service_tier == WILDCARD else (self.service_tier,)

    def matches(self, provider: str, model: str) -> bool:
        """Exact (case-sensitive) observed model string, or a prefix written as `prefix*`."""
        if provider != self.provider:
            return False
        if self.model.endswith(WILDCARD):
            return model.startswith(self.model[:-1])
        return model == self.model

    def covers(self, token_class: str, service_tier: str) -> bool:
        return token_class in self.token_classes and service_tier in self.service_tiers

    def discounted(self, list_price: Decimal) -> Decimal:
        assert self.discount_pct is not None
        return list_price * (_HUNDRED - self.discount_pct) / _HUNDRED


def load_overrides(path: str | Path) -> list[Override]:
    """Read and validate a price overrides CSV (header only = no overrides)."""
    shown = str(path)
    overrides: list[Override] = []
    lines: dict[str, int] = {}
    for line, row in _read_rows(Path(path), shown):
        override = _parse(shown, line, row)
        if override.override_id in lines:
            raise PriceOverrideError(
                shown,
                line,
                "override_id",
                f"override_id {override.override_id!r} is already used on line "
                f"{lines[override.override_id]}",
            )
        for other in overrides:
            if _overlap(override, other):
                raise PriceOverrideError(
                    shown,
                    line,
                    "valid_from",
                    f"valid_from/valid_to {_period(override)} of override "
                    f"{override.override_id!r} overlaps override {other.override_id!r} "
                    f"(line {lines[other.override_id]}, {_period(other)}) for provider "
                    f"{override.provider}, model {override.model!r}/{other.model!r}, "
                    f"token_class {override.token_class}/{other.token_class}, service_tier "
                    f"{override.service_tier}/{other.service_tier}; at most one override may "
                    "apply to a price on a day",
                )
        lines[override.override_id] = line
        overrides.append(override)
    return overrides


def _read_rows(path: Path, shown: str) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise PriceOverrideError(shown, 0, None, "file not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise PriceOverrideError(
                shown, 1, None, f"missing header; expected {','.join(OVERRIDE_COLUMNS)}"
            )
        missing = [c for c in OVERRIDE_COLUMNS if c in _REQUIRED_COLUMNS and c not in header]
        if missing:
            raise PriceOverrideError(
                shown, 1, missing[0], f"missing column(s) {', '.join(missing)}"
            )
        unknown = [h for h in header if h not in OVERRIDE_COLUMNS]
        if unknown:
            raise PriceOverrideError(
                shown,
                1,
                unknown[0],
                f"unknown column(s) {', '.join(unknown)}; expected {', '.join(OVERRIDE_COLUMNS)}",
            )
        for values in reader:
            cells = [v.strip() for v in values]
            if not any(cells) or cells[0].startswith("#"):
                continue  # blank lines, and lines commented out with '#' as in the other configs
            if len(cells) != len(header):
                raise PriceOverrideError(
                    shown,
                    reader.line_num,
                    None,
                    f"has {len(cells)} fields, the header has {len(header)} "
                    "(quote a note that contains a comma)",
                )
            yield reader.line_num, dict(zip(header, cells, strict=True))


def _parse(path: str, line: int, row: dict[str, str]) -> Override:
    def fail(field: str, why: str) -> PriceOverrideError:
        return PriceOverrideError(path, line, field, f"{field} {why}")

    override_id = row["override_id"]
    if not override_id:
        raise fail("override_id", "is empty")
    provider = row["provider"]
    if provider not in PROVIDERS:
        raise fail("provider", f"{provider!r} is not one of {', '.join(PROVIDERS)}")
    model = row["model"]
    if not model:
        raise fail("model", "is empty (an exact model string, or a prefix ending with '*')")
    if WILDCARD in model[:-1]:
        raise fail("model", f"{model!r} has '*' before the end; only a trailing '*' is allowed")
    token_class = row["token_class"]
    if token_class != WILDCARD and token_class not in TOKEN_CLASSES:
        raise fail(
            "token_class", f"{token_class!r} is not '*' or one of {', '.join(TOKEN_CLASSES)}"
        )
    service_tier = row["service_tier"]
    if service_tier != WILDCARD and service_tier not in SERVICE_TIERS:
        raise fail(
            "service_tier", f"{service_tier!r} is not '*' or one of {', '.join(SERVICE_TIERS)}"
        )
    valid_from = _date(row["valid_from"], fail, "valid_from")
    if valid_from is None:
        raise fail("valid_from", "is empty (YYYY-MM-DD; the first day the override applies)")
    valid_to = _date(row["valid_to"], fail, "valid_to")
    if valid_to is not None and valid_to < valid_from:
        raise fail("valid_to", f"{valid_to} is before valid_from {valid_from}")
    if valid_to is not None and valid_to == valid_from:
        raise fail(
            "valid_to",
            f"{valid_to} equals valid_from: valid_to is exclusive, so the "
            "override would never apply",
        )
    price = _decimal(row["usd_per_million"], fail, "usd_per_million")
    discount = _decimal(row["discount_pct"], fail, "discount_pct")
    if price is not None and discount is not None:
        raise fail("usd_per_million", "and discount_pct are both set; give exactly one")
    if price is None and discount is None:
        raise fail("usd_per_million", "and discount_pct are both empty; give exactly one")
    if price is not None and price < 0:
        raise fail("usd_per_million", f"{price} is negative")
    if discount is not None and not 0 <= discount <= _HUNDRED:
        raise fail("discount_pct", f"{discount} is not between 0 and 100")
    if price is not None and token_class == WILDCARD:
        raise fail(
            "token_class",
            "'*' needs discount_pct: an absolute usd_per_million names one token class "
            "(input and output prices differ, and web_search is priced per request)",
        )
    return Override(
        override_id=override_id,
        provider=provider,
        model=model,
        token_class=token_class,
        service_tier=service_tier,
        valid_from=valid_from,
        valid_to=valid_to,
        usd_per_million=price,
        discount_pct=discount,
        note=row.get("note") or None,
        source=f"{path} line {line}",
    )


def _date(raw: str, fail: _Fail, field: str) -> date | None:
    if not raw:
        return None
    try:
        if not _ISO_DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise fail(field, f"{raw!r} is not a date in YYYY-MM-DD form") from None


def _decimal(raw: str, fail: _Fail, field: str) -> Decimal | None:
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise fail(field, f"{raw!r} is not a number (plain digits, '.' for decimals)") from None
    if not value.is_finite():
        raise fail(field, f"{raw!r} is not a finite number")
    return value


def _patterns_intersect(a: str, b: str) -> bool:
    """Whether some model string matches both patterns (exact or `prefix*`)."""
    a_prefix, b_prefix = a.endswith(WILDCARD), b.endswith(WILDCARD)
    if a_prefix and b_prefix:
        return a[:-1].startswith(b[:-1]) or b[:-1].startswith(a[:-1])
    if a_prefix:
        return b.startswith(a[:-1])
    if b_prefix:
        return a.startswith(b[:-1])
    return a == b


def _overlap(a: Override, b: Override) -> bool:
    return (
        a.provider == b.provider
        and _patterns_intersect(a.model, b.model)
        and bool(set(a.token_classes) & set(b.token_classes))
        and bool(set(a.service_tiers) & set(b.service_tiers))
        and (b.valid_to is None or a.valid_from < b.valid_to)
        and (a.valid_to is None or b.valid_from < a.valid_to)
    )


def _period(o: Override) -> str:
    return f"[{o.valid_from}, {o.valid_to or 'open'})"
