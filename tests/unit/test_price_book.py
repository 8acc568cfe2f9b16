"""The price book: genai-prices' bundled list prices per observed model, dated, tiered and
batched, with overrides that win only inside their dates, and no network access."""

from __future__ import annotations

import socket
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import genai_prices
import pytest
from genai_prices import data_snapshot
from genai_prices.data import providers as bundled_providers
from genai_prices.types import ModelInfo, StartDateConstraint, TieredPrices

from ingestion.prices import (
    FLOOR,
    PRICE_BOOK_COLUMNS,
    PRICE_BOOK_SQL_TYPES,
    Override,
    PriceOverrideError,
    book,
    load_overrides,
    price_book_frame,
    price_book_rows,
    resolve_model,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "fixtures" / "prices" / "price_overrides_example.csv"
HEADER = (
    "override_id,provider,model,token_class,service_tier,valid_from,valid_to,"
    "usd_per_million,discount_pct,note\n"
)
FT_MODEL = "ft:gpt-4o-mini-2024-07-18:acme::abc123"

# Every (provider, model) the simulator's bills carry, as the staging models name them.
SIMULATOR_MODELS = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1-2025-04-14"),
    ("openai", "gpt-4.1-mini-2025-04-14"),
    ("openai", "o3-2025-04-16"),
    ("openai", "text-embedding-3-small"),
    ("openai", "omni-moderation-latest"),
    ("openai", "dall-e-3"),
    ("openai", "tts-1"),
    ("openai", "whisper-1"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    ("anthropic", "claude-opus-4-1-20250805"),
    ("aws_bedrock", "claude-sonnet-4"),
    ("aws_bedrock", "claude-3.5-sonnet"),
    ("aws_bedrock", "nova-lite"),
    ("gcp_vertex", "gemini-2.5-flash"),
    ("azure_openai", "gpt-4o-mini"),
    ("azure_openai", "gpt-4.1-mini"),
    ("cursor", "claude-4.5-sonnet"),
    ("cursor", "claude-4.5-opus"),
    ("cursor", "gpt-5"),
    ("cursor", "gpt-5-codex"),
    ("cursor", "gemini-2.5-pro"),
    ("cursor", "default"),
]


def model_info(provider_id: str, model_id: str) -> ModelInfo:
    provider = next(p for p in bundled_providers if p.id == provider_id)
    return next(m for m in provider.models if m.id == model_id)


def pick(rows: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def price_on(rows: list[dict[str, Any]], day: date, **where: Any) -> Decimal:
    hits = [
        r
        for r in pick(rows, **where)
        if r["valid_from"] <= day and (r["valid_to"] is None or day < r["valid_to"])
    ]
    assert len(hits) == 1, hits
    return hits[0]["usd_per_million"]


def write_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "price_overrides.csv"
    path.write_text(HEADER + body)
    return path


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("openai", "gpt-4o-2024-08-06", ("openai", "gpt-4o", "provider")),
        ("openai", "gpt-4.1-mini-2025-04-14", ("openai", "gpt-4.1-mini", "provider")),
        ("openai", "o3-2025-04-16", ("openai", "o3", "provider")),
        ("anthropic", "claude-sonnet-4-20250514", ("anthropic", "claude-sonnet-4-0", "provider")),
        ("anthropic", "claude-haiku-4-5-20251001", ("anthropic", "claude-haiku-4-5", "provider")),
        ("anthropic", "claude-opus-4-1-20250805", ("anthropic", "claude-opus-4-1", "provider")),
        (
            "aws_bedrock",
            "anthropic.claude-sonnet-4-20250514-v1:0",
            ("aws", "regional.anthropic.claude-sonnet-4-20250514-v1:0", "provider"),
        ),
        (
            "aws_bedrock",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            ("aws", "regional.anthropic.claude-sonnet-4-20250514-v1:0", "provider"),
        ),
        ("aws_bedrock", "nova-lite", ("aws", "amazon.nova-lite-v1:0", "provider")),
        ("aws_bedrock", "claude-sonnet-4", ("anthropic", "claude-sonnet-4-0", "model_name")),
        ("gcp_vertex", "gemini-2.5-pro", ("google", "gemini-2.5-pro", "provider")),
        ("azure_openai", "gpt-4o-mini", ("openai", "gpt-4o-mini", "fallback")),
        ("cursor", "claude-4.5-sonnet", ("anthropic", "claude-sonnet-4-5", "model_name")),
        ("cursor", "gpt-5-codex", ("openai", "gpt-5", "model_name")),
        ("openai", FT_MODEL, ("openai", "ft:gpt-4o-mini", "provider")),
        ("cursor", "default", None),
        ("openai", "dall-e-3", None),
        ("openai", "acme-llm-9000", None),
    ],
)
def test_resolve_model(provider: str, model: str, expected: tuple[str, str, str] | None) -> None:
    match = resolve_model(provider, model)
    if expected is None:
        assert match is None
    else:
        assert match is not None
        assert (match.matched_provider_id, match.matched_model_id, match.how) == expected


def test_gpt_4o_prices_are_genai_prices() -> None:
    rows = price_book_rows([("openai", "gpt-4o-2024-08-06")])
    standard = pick(rows, service_tier="standard")
    assert {r["token_class"] for r in standard} == {"input", "cached_input", "output", "web_search"}
    assert all(r["matched_model_id"] == "gpt-4o" for r in rows)
    assert all(r["price_source"] == "genai-prices" and r["override_id"] is None for r in rows)
    prices = model_info("openai", "gpt-4o").prices
    day = date(2025, 5, 1)
    assert price_on(standard, day, token_class="input") == prices.input_mtok
    assert price_on(standard, day, token_class="cached_input") == prices.cache_read_mtok
    assert price_on(standard, day, token_class="output") == prices.output_mtok
    assert price_on(standard, day, token_class="web_search") == prices.web_searches_kcount * 1000
    assert pick(standard, token_class="web_search")[0]["unit"] == "requests"
    # and what genai-prices' own calculator charges for a million tokens of each
    when = datetime(2025, 5, 1, tzinfo=UTC)
    for usage, token_class in (
        (genai_prices.Usage(input_tokens=1_000_000), "input"),
        (genai_prices.Usage(output_tokens=1_000_000), "output"),
    ):
        calc = genai_prices.calc_price(
            usage, "gpt-4o-2024-08-06", provider_id="openai", genai_request_timestamp=when
        )
        assert calc.total_price == price_on(standard, day, token_class=token_class)


def test_o3_price_cut_gives_two_periods_that_tile_time() -> None:
    conditional = model_info("openai", "o3").prices
    starts = [
        c.constraint.start_date
        for c in conditional
        if isinstance(c.constraint, StartDateConstraint)
    ]
    assert starts == [date(2025, 6, 10)]  # the data really hold the cut

    rows = pick(price_book_rows([("openai", "o3-2025-04-16")]), service_tier="standard")
    inputs = sorted(pick(rows, token_class="input"), key=lambda r: r["valid_from"])
    assert [(r["valid_from"], r["valid_to"], r["usd_per_million"]) for r in inputs] == [
        (FLOOR, date(2025, 6, 10), Decimal("10")),
        (date(2025, 6, 10), None, Decimal("2")),
    ]
    assert price_on(rows, date(2025, 6, 9), token_class="output") == Decimal("40")
    assert price_on(rows, date(2025, 6, 10), token_class="output") == Decimal("8")


def test_every_price_key_tiles_time_without_overlap() -> None:
    overrides = load_overrides(EXAMPLE)
    rows = price_book_rows([*SIMULATOR_MODELS, ("openai", FT_MODEL)], overrides)
    periods: dict[tuple, list[tuple[date, date | None]]] = defaultdict(list)
    for r in rows:
        key = tuple(r[k] for k in ("provider", "model", "token_class", "service_tier"))
        periods[(*key, r["tier_min_input_tokens"])].append((r["valid_from"], r["valid_to"]))
    for key, spans in periods.items():
        spans.sort()
        for (_, end), (start, _) in pairwise(spans):
            assert end is not None and end <= start, (key, spans)
    # a list price runs from the floor and stays open: no day of a priced class is left out
    for key, spans in periods.items():
        if key[4] == 0 and key[1] in ("gpt-4o-2024-08-06", "o3-2025-04-16"):
            assert spans[0][0] == FLOOR and spans[-1][1] is None, (key, spans)
            assert all(a[1] == b[0] for a, b in pairwise(spans)), (key, spans)


def test_unknown_model_has_no_rows_never_zero() -> None:
    assert resolve_model("openai", "acme-llm-9000") is None
    assert price_book_rows([("openai", "acme-llm-9000")]) == []
    # matched, but genai-prices prices it in units the book has no class for (per audio hour)
    assert resolve_model("openai", "whisper-1") is not None
    assert price_book_rows([("openai", "whisper-1")]) == []


def test_long_context_tier_rows() -> None:
    info = model_info("google", "gemini-2.5-pro")
    assert isinstance(info.prices.input_mtok, TieredPrices)
    rows = pick(price_book_rows([("gcp_vertex", "gemini-2.5-pro")]), service_tier="standard")
    day = date(2025, 9, 1)
    assert price_on(rows, day, token_class="input", tier_min_input_tokens=0) == Decimal("1.25")
    assert price_on(rows, day, token_class="input", tier_min_input_tokens=200_000) == Decimal("2.5")
    assert price_on(rows, day, token_class="output", tier_min_input_tokens=200_000) == Decimal("15")
    # the same tiers for Claude Sonnet 4.5, reached from Cursor's spelling of its name
    claude = price_book_rows([("cursor", "claude-4.5-sonnet")])
    assert price_on(claude, day, token_class="input", tier_min_input_tokens=200_000) == Decimal("6")


def test_batch_is_half_of_standard_until_genai_prices_says_otherwise() -> None:
    rows = price_book_rows(
        [("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-sonnet-4-20250514")]
    )
    day = date(2025, 9, 1)
    for r in pick(rows, service_tier="batch"):
        if not (r["valid_from"] <= day and (r["valid_to"] is None or day < r["valid_to"])):
            continue
        standard = price_on(
            rows,
            day,
            model=r["model"],
            token_class=r["token_class"],
            service_tier="standard",
            tier_min_input_tokens=r["tier_min_input_tokens"],
        )
        if r["token_class"] == "web_search":
            assert r["usd_per_million"] == standard  # no published batch rate for searches
        else:
            assert r["usd_per_million"] == standard / 2, r
    batch_4o = pick(rows, model="gpt-4o-2024-08-06", service_tier="batch")
    assert price_on(batch_4o, day, token_class="input") == Decimal("1.25")
    # from 2026-10-14 genai-prices has OpenAI's batch table, which has no cached-input rate
    later = date(2026, 11, 1)
    assert price_on(batch_4o, later, token_class="input") == Decimal("1.25")
    assert price_on(batch_4o, later, token_class="cached_input") == Decimal("1.25")
    # Anthropic's 1h cache write is in the data (2x input) and batch halves it too
    sonnet = pick(rows, model="claude-sonnet-4-20250514")
    assert price_on(sonnet, day, token_class="cache_write_1h", service_tier="standard") == 6
    assert price_on(sonnet, day, token_class="cache_write_1h", service_tier="batch") == 3
    # no batch tier for providers without a batch API rule or data (Azure here, via fallback)
    assert not pick(price_book_rows([("azure_openai", "gpt-4o-mini")]), service_tier="batch")


def test_1h_cache_write_is_derived_when_genai_prices_lacks_it() -> None:
    rows = price_book_rows([("aws_bedrock", "anthropic.claude-sonnet-4-20250514-v1:0")])
    one_hour = pick(rows, token_class="cache_write_1h")
    assert [r["usd_per_million"] for r in one_hour] == [Decimal("6")]
    assert "2x input" in one_hour[0]["note"]


# --------------------------------------------------------------------------- overrides


def test_discount_override_applies_only_inside_its_dates() -> None:
    overrides = [o for o in load_overrides(EXAMPLE) if o.override_id == "oa-commit-2025q1"]
    rows = price_book_rows([("openai", "gpt-4o-2024-08-06")], overrides)
    inputs = sorted(
        pick(rows, token_class="input", service_tier="standard"), key=lambda r: r["valid_from"]
    )
    assert [
        (r["valid_from"], r["valid_to"], r["usd_per_million"], r["price_source"], r["override_id"])
        for r in inputs
    ] == [
        (FLOOR, date(2025, 3, 1), Decimal("2.5"), "genai-prices", None),
        (date(2025, 3, 1), date(2025, 4, 1), Decimal("2.25"), "override", "oa-commit-2025q1"),
        (date(2025, 4, 1), None, Decimal("2.5"), "genai-prices", None),
    ]
    assert "10% off 2.5" in inputs[1]["note"]
    # other classes and the batch tier keep the list price in March
    assert price_on(rows, date(2025, 3, 15), token_class="output", service_tier="standard") == 10
    assert price_on(rows, date(2025, 3, 15), token_class="input", service_tier="batch") == Decimal(
        "1.25"
    )


def test_wildcard_discount_covers_every_class_tier_and_period_from_its_start() -> None:
    overrides = [o for o in load_overrides(EXAMPLE) if o.override_id == "an-edp-2025"]
    rows = price_book_rows([("anthropic", "claude-sonnet-4-20250514")], overrides)
    for r in rows:
        before = r["valid_to"] is not None and r["valid_to"] <= date(2025, 7, 1)
        assert r["price_source"] == ("genai-prices" if before else "override"), r
    assert price_on(rows, date(2025, 6, 30), token_class="output", service_tier="standard") == 15
    assert price_on(rows, date(2025, 7, 1), token_class="output", service_tier="standard") == (
        Decimal("14.25")
    )
    assert price_on(rows, date(2025, 7, 1), token_class="output", service_tier="batch") == (
        Decimal("7.125")
    )


def test_absolute_override_prices_a_fine_tuned_model_over_genai_prices() -> None:
    match = resolve_model("openai", FT_MODEL)
    assert (
        match is not None and match.matched_model_id == "ft:gpt-4o-mini"
    )  # genai-prices knows ft:
    overrides = [o for o in load_overrides(EXAMPLE) if o.override_id.startswith("ft-acme")]
    rows = price_book_rows([("openai", FT_MODEL)], overrides)
    standard = pick(rows, service_tier="standard")
    assert price_on(standard, date(2024, 12, 31), token_class="input") == Decimal("0.3")
    assert price_on(standard, date(2025, 1, 1), token_class="input") == Decimal("0.25")
    assert price_on(standard, date(2025, 1, 1), token_class="output") == Decimal("1.00")
    after = pick(rows, token_class="input", valid_from=date(2025, 1, 1))
    assert {(r["service_tier"], r["price_source"], r["override_id"]) for r in after} == {
        ("standard", "override", "ft-acme-input"),
        ("batch", "override", "ft-acme-input"),
    }


def test_absolute_override_adds_a_model_genai_prices_does_not_know() -> None:
    overrides = load_overrides(EXAMPLE)
    rows = price_book_rows([("openai", "acme-llm-9000")], overrides)
    assert [(r["token_class"], r["usd_per_million"], r["matched_model_id"]) for r in rows] == [
        ("input", Decimal("0.80"), None),
        ("output", Decimal("2.40"), None),
    ]
    assert all(r["price_source"] == "override" for r in rows)


def test_shipped_config_only_makes_free_endpoints_free() -> None:
    """The shipped overrides hold no discount: only moderations, which OpenAI does not charge."""
    overrides = load_overrides(ROOT / "config" / "price_overrides.csv")
    assert [(o.override_id, o.usd_per_million, o.discount_pct) for o in overrides] == [
        ("openai-moderation-free", Decimal(0), None)
    ]


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "a,openai,gpt-4o,input,standard,2026-03-01,2026-01-01,,10,\n",
            2,
            "valid_to",
            "line 2: valid_to 2026-01-01 is before valid_from 2026-03-01",
        ),
        (
            "a,openai,gpt-4o,input,standard,2026-01-01,,,10,\nb,openai,gpt-4o,reasoning,*,2026-01-01,,,5,\n",
            3,
            "token_class",
            "line 3: token_class 'reasoning' is not '*' or one of",
        ),
        ("a,openai,gpt-4o,input,standard,2026-01-01,,2.5,10,\n", 2, "usd_per_million", "both set"),
        ("a,openai,gpt-4o,input,standard,2026-01-01,,,,\n", 2, "usd_per_million", "both empty"),
        ("a,openai,gpt-4o,input,standard,2026-13-01,,,10,\n", 2, "valid_from", "not a date"),
        ("a,openai,gpt-4o,input,standard,01/03/2026,,,10,\n", 2, "valid_from", "not a date"),
        ("a,openai,gpt-4o,input,standard,2026-01-01,,-1,,\n", 2, "usd_per_million", "negative"),
        (
            "a,openai,gpt-4o,input,standard,2026-01-01,,abc,,\n",
            2,
            "usd_per_million",
            "not a number",
        ),
        ("a,openai,gpt-4o,input,standard,2026-01-01,,,120,\n", 2, "discount_pct", "between 0 and"),
        ("a,openai,gpt-4o,*,standard,2026-01-01,,2.5,,\n", 2, "token_class", "needs discount_pct"),
        ("a,bedrock,x,input,standard,2026-01-01,,,10,\n", 2, "provider", "'bedrock' is not one"),
        ("a,openai,gpt*4o,input,standard,2026-01-01,,,10,\n", 2, "model", "before the end"),
        ("a,openai,gpt-4o,input,flex,2026-01-01,,,10,\n", 2, "service_tier", "'flex' is not"),
        (
            "a,openai,gpt-4o,input,standard,2026-01-01,,,10,\n"
            "a,openai,gpt-4o,output,standard,2026-01-01,,,10,\n",
            3,
            "override_id",
            "'a' is already used on line 2",
        ),
        (
            "a,openai,gpt-4o,input,standard,2026-01-01,2026-04-01,,10,\n"
            "b,openai,gpt-4o,input,standard,2026-03-01,,,5,\n",
            3,
            "valid_from",
            "overlaps override 'a' (line 2",
        ),
        (  # a prefix and '*' classes intersect an exact model and class: still ambiguous
            "a,openai,gpt-4o,input,batch,2026-01-01,,0.5,,\n"
            "b,openai,gpt-4*,*,*,2025-01-01,2026-02-01,,5,\n",
            3,
            "valid_from",
            "overlaps override 'a' (line 2",
        ),
    ],
)
def test_override_errors_name_file_line_and_field(
    tmp_path: Path, body: str, line: int, field: str, message: str
) -> None:
    path = write_csv(tmp_path, body)
    with pytest.raises(PriceOverrideError) as caught:
        load_overrides(path)
    error = caught.value
    assert str(error).startswith(f"{path} line {line}: {field}"), str(error)
    assert message in str(error)
    assert (error.line, error.field) == (line, field)


def test_overrides_that_meet_do_not_overlap(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "a,openai,gpt-4o,input,standard,2026-01-01,2026-03-01,,10,\n"
        "\n"
        'b,openai,gpt-4o,input,standard,2026-03-01,,,5,"note, with a comma"\n'
        "c,openai,gpt-4o,input,batch,2026-01-01,,,5,\n",
    )
    loaded = load_overrides(path)
    assert [(o.override_id, o.source) for o in loaded] == [
        ("a", f"{path} line 2"),
        ("b", f"{path} line 4"),
        ("c", f"{path} line 5"),
    ]
    assert loaded[1].note == "note, with a comma"


def test_bad_header_is_reported_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("override_id,provider,model,token_class,valid_from\n")
    with pytest.raises(
        PriceOverrideError, match=r"p\.csv line 1: missing column\(s\) service_tier"
    ):
        load_overrides(path)


# --------------------------------------------------------------------------- the frame


def test_frame_reads_into_duckdb_with_exact_decimals() -> None:
    observed = [("openai", "gpt-4o-2024-08-06"), ("gcp_vertex", "gemini-2.5-pro")]
    rows = price_book_rows(observed, load_overrides(EXAMPLE))
    frame = price_book_frame(observed, load_overrides(EXAMPLE))
    assert list(frame.columns) == list(PRICE_BOOK_COLUMNS)
    casts = ", ".join(f"cast({c} as {t}) as {c}" for c, t in PRICE_BOOK_SQL_TYPES.items())
    con = duckdb.connect()
    con.register("frame", frame)
    typed = con.sql(f"select {casts} from frame")
    assert dict(zip(typed.columns, map(str, typed.types), strict=True)) == {
        c: t.replace(", ", ",") for c, t in PRICE_BOOK_SQL_TYPES.items()
    }
    back = [dict(zip(typed.columns, values, strict=True)) for values in typed.fetchall()]
    assert back == rows  # dates, NULLs and every price survive exactly


def test_empty_frame_keeps_its_types() -> None:
    frame = price_book_frame([("cursor", "default")])
    assert len(frame) == 0
    con = duckdb.connect()
    con.register("frame", frame)
    types = dict(
        zip(
            con.sql("select * from frame").columns,
            map(str, con.sql("select * from frame").types),
            strict=True,
        )
    )
    assert types["usd_per_million"] == "VARCHAR"
    assert types["valid_to"] == "TIMESTAMP"
    assert types["override_id"] == "VARCHAR"


# --------------------------------------------------------------------------- offline


def test_no_network_and_bundled_data_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import httpx2

    monkeypatch.setattr(httpx2.Client, "send", refuse)
    monkeypatch.setattr(httpx2, "get", refuse)
    # pretend some other code in the process fetched (empty) prices: the book must ignore them
    monkeypatch.setattr(
        data_snapshot,
        "_custom_snapshot",
        data_snapshot.DataSnapshot(providers=[], from_auto_update=True),
    )
    monkeypatch.setattr(book, "resolve_model", book.resolve_model.__wrapped__)
    book._snapshot.cache_clear()
    book._owners.cache_clear()
    try:
        frame = price_book_frame(SIMULATOR_MODELS, load_overrides(EXAMPLE))
    finally:
        book._snapshot.cache_clear()
        book._owners.cache_clear()
    assert len(frame) > 100
    assert set(frame["matched_model_id"].dropna()) >= {
        "gpt-4o",
        "claude-sonnet-4-0",
        "gemini-2.5-flash",
    }


def test_overrides_for_other_models_do_not_apply() -> None:
    other = Override(
        override_id="x",
        provider="openai",
        model="gpt-4o-mini*",
        token_class="*",
        service_tier="*",
        valid_from=date(2025, 1, 1),
        valid_to=None,
        usd_per_million=None,
        discount_pct=Decimal(50),
    )
    assert price_book_rows([("openai", "gpt-4o-2024-08-06")], [other]) == price_book_rows(
        [("openai", "gpt-4o-2024-08-06")]
    )
