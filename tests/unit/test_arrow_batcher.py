"""ingestion._arrow.ArrowBatcher: row dicts to typed arrow tables, typed as dlt typed dicts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pytest

from ingestion._arrow import ArrowBatcher
from ingestion._common import SourceDataError

COLUMNS: dict[str, Any] = {
    "start_time": {"data_type": "bigint", "nullable": False},
    "tokens": {"data_type": "bigint"},
    "model": {"data_type": "text"},
    "batch": {"data_type": "bool"},
    "share": {"data_type": "double"},
    "amount": {"data_type": "decimal", "precision": 38, "scale": 12},
    "quantity": {"data_type": "decimal", "precision": 38, "scale": 6},
    "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
}


def batcher(**kw: Any) -> ArrowBatcher:
    return ArrowBatcher(
        COLUMNS, source="openai /organization/costs", table="costs", load_id="L1", **kw
    )


def row(i: int, **values: Any) -> dict[str, Any]:
    return {"_row_key": f"k{i}", "start_time": 1_700_000_000 + i, **values}


def test_declared_columns_get_their_exact_types_and_absent_ones_are_null():
    table = batcher().to_table([row(1, tokens=5, model="gpt", amount=Decimal("0.1845"))])
    types = {f.name: f.type for f in table.schema}
    assert types["start_time"] == pa.int64() and types["tokens"] == pa.int64()
    assert types["model"] == pa.string() and types["batch"] == pa.bool_()
    assert types["share"] == pa.float64()
    assert types["amount"] == pa.decimal128(38, 12)
    assert types["quantity"] == pa.decimal128(38, 6)
    # never sent: still a column, all null, so every batch has the same schema
    assert table.column("quantity").null_count == 1
    assert table.column("batch").to_pylist() == [None]
    # NOT NULL columns stay NOT NULL in the arrow schema (dlt's hints and the table agree)
    assert not table.schema.field("start_time").nullable
    assert not table.schema.field("_row_key").nullable
    assert table.schema.field("tokens").nullable


def test_dlt_id_copies_the_row_key_and_the_load_id_is_added():
    table = batcher().to_table([row(1), row(2)])
    assert table.column("_dlt_id").to_pylist() == ["k1", "k2"]
    assert table.column("_dlt_load_id").to_pylist() == ["L1", "L1"]
    outside_dlt = ArrowBatcher(COLUMNS, source="s", table="t").to_table([row(1)])
    assert "_dlt_load_id" not in outside_dlt.column_names


def test_numbers_sent_as_strings_are_coerced_like_dlt_did():
    table = batcher().to_table(
        [
            row(1, tokens="12", amount="0.25", quantity="3", share="1.5", batch="true"),
            row(2, tokens=7, amount=Decimal("1"), quantity=2, share=2, batch=False),
            {"_row_key": "k3", "start_time": "1700000003", "tokens": 4.0, "batch": "FALSE"},
        ]
    )
    assert table.column("tokens").to_pylist() == [12, 7, 4]
    assert table.column("start_time").to_pylist() == [1_700_000_001, 1_700_000_002, 1_700_000_003]
    assert table.column("amount").to_pylist() == [Decimal("0.25"), Decimal("1"), None]
    assert table.column("quantity").to_pylist() == [Decimal("3"), Decimal("2"), None]
    assert table.column("share").to_pylist() == [1.5, 2.0, None]
    assert table.column("batch").to_pylist() == [True, False, False]
    # numbers in a text column become their text, as dlt coerced them
    assert batcher().to_table([row(1, model=4)]).column("model").to_pylist() == ["4"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("tokens", "twelve", "a whole number (bigint)"),
        ("tokens", 1.5, "a whole number (bigint)"),  # never truncated to 1
        ("tokens", True, "a whole number (bigint)"),
        ("amount", "1,5", "a decimal number (decimal(38,12))"),
        ("amount", True, "a decimal number (decimal(38,12))"),
        ("amount", "NaN", "a decimal number (decimal(38,12))"),
        ("amount", Decimal("1e30"), "a decimal number (decimal(38,12))"),  # 42 digits
        ("share", "much", "a number (double)"),
        ("batch", "maybe", "a boolean (bool)"),
        ("batch", 2, "a boolean (bool)"),
    ],
)
def test_a_value_that_cannot_be_coerced_names_source_table_field_and_value(field, value, expected):
    rows = [row(1, tokens=1), row(2, **{field: value})]
    with pytest.raises(SourceDataError) as err:
        batcher().to_table(rows)
    message = str(err.value)
    assert message.startswith("openai /organization/costs: table 'costs'")
    assert f"field '{field}' has value {value!r}" in message
    assert "row 2 of the read" in message
    assert expected in message


def test_a_null_in_a_not_null_column_is_an_error_naming_it():
    with pytest.raises(SourceDataError, match=r"field 'start_time' has value None \(row 2"):
        batcher().to_table([row(1), {"_row_key": "k2", "start_time": None}])
    with pytest.raises(SourceDataError, match="field '_row_key'"):
        batcher().to_table([{"start_time": 1}])


def test_decimals_stay_exact():
    amounts = [Decimal("0.1"), Decimal("0.2"), "0.000000000001", 0.1845, 10**20, None]
    table = batcher().to_table([row(i, amount=a) for i, a in enumerate(amounts)])
    got = table.column("amount").to_pylist()
    # a float goes through its shortest repr (like to_decimal), never its binary expansion
    assert got == [
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("1E-12"),
        Decimal("0.1845"),
        Decimal(10**20),
        None,
    ]
    assert sum(v for v in got if v is not None) == Decimal("100000000000000000000.300000000001") + (
        Decimal("0.1845")
    )
    # more places than the column holds: rounded half-even, as the database did on insert
    q = batcher().to_table([row(1, quantity=Decimal("0.0000125")), row(2, quantity="0.0000135")])
    assert q.column("quantity").to_pylist() == [Decimal("0.000012"), Decimal("0.000014")]


def test_undeclared_fields_are_kept_with_inferred_types():
    table = batcher().to_table(
        [
            row(1, request_priority="standard", new_metrics={"effort": "medium"}, n=3),
            row(2, request_priority=None, new_metrics=[1, 2], n=4, mixed=1, f=1),
            row(3, mixed="a", f=1.5, dec=Decimal("1.25")),
        ]
    )
    types = {f.name: f.type for f in table.schema}
    assert types["request_priority"] == pa.string()
    assert types["n"] == pa.int64() and types["f"] == pa.float64()
    assert pa.types.is_decimal(types["dec"])
    assert table.column("dec").to_pylist() == [None, None, Decimal("1.25")]
    # objects and lists as JSON text; a field of mixed types as text
    assert table.column("new_metrics").to_pylist() == ['{"effort":"medium"}', "[1,2]", None]
    assert table.column("mixed").to_pylist() == [None, "1", "a"]
    # a field null in every row carries no type: dlt adds no column for it, as for dicts
    assert batcher().to_table([row(1, gone=None)]).column("gone").type == pa.null()


def test_batches_are_cut_every_batch_rows_with_one_schema():
    b = batcher(batch_rows=3)
    tables = list(b.batches(row(i, tokens=i) if i != 4 else row(i, model="m") for i in range(7)))
    assert [t.num_rows for t in tables] == [3, 3, 1]
    assert len({t.schema for t in tables}) == 1
    assert b.total_rows == 7 and b.tables == 3
    assert list(batcher().batches([])) == []


def test_a_row_number_in_an_error_counts_across_batches():
    b = batcher(batch_rows=2)
    with pytest.raises(SourceDataError, match="row 3 of the read"):
        list(b.batches([row(1), row(2), row(3, tokens="x")]))


def test_arrow_batches_and_dict_rows_load_through_dlt_merge_with_dedup(tmp_path: Path):
    """One resource yields typed tables (its data table) and dicts (a second table); merge on
    the primary key keeps the row with the highest `_seq`, decimals arrive exact."""
    columns = {
        "day": {"data_type": "bigint", "nullable": False},
        "amount": {"data_type": "decimal", "precision": 38, "scale": 12},
        "_seq": {"data_type": "bigint", "dedup_sort": "desc"},
    }

    def make(amounts: list[str]) -> Any:
        @dlt.resource(
            name="costs",
            write_disposition="merge",
            primary_key="_row_key",
            merge_key="day",
            columns=columns,
        )
        def costs() -> Any:
            b = ArrowBatcher(columns, source="test", table="costs", batch_rows=2)
            rows = [
                {"_row_key": "a", "day": 1, "amount": amounts[0], "_seq": 0},
                {"_row_key": "a", "day": 1, "amount": amounts[1], "_seq": 1},
                {"_row_key": "b", "day": 1, "amount": "0.000000000001", "_seq": 2},
            ]
            yield from b.batches(rows)
            yield dlt.mark.with_table_name({"_row_key": "r", "day": 1, "n": 3}, "reported")

        return costs

    pipeline = dlt.pipeline(
        pipeline_name="arrow_merge",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(tmp_path / "pl"),
    )
    pipeline.run(make(["1.1", "2.2"]))
    pipeline.run(make(["5.5", "0.1"]))  # a re-read replaces the day
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute("select _row_key, amount from raw.costs order by 1").fetchall()
        assert rows == [("a", Decimal("0.1")), ("b", Decimal("0.000000000001"))]
        assert con.execute("select n from raw.reported").fetchall() == [(3,)]
        loads = con.execute("select count(distinct _dlt_load_id) from raw.costs").fetchone()
        assert loads == (1,)
        kinds = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'costs'"
            ).fetchall()
        )
    assert kinds["amount"] == "DECIMAL(38,12)" and kinds["day"] == "BIGINT"
    assert kinds["_dlt_id"] == "VARCHAR"


def test_from_columns_builds_the_table_to_table_builds_from_the_same_rows():
    rows = [
        row(1, tokens=5, model="gpt", amount=Decimal("0.1845"), extra_field="x"),
        row(2, tokens="7", share=1, quantity="3"),
    ]
    names = ["_row_key", *COLUMNS, "extra_field"]
    columns = {name: [r.get(name) for r in rows] for name in names if name != "batch"}
    assert batcher().from_columns(columns, 2).equals(batcher().to_table(rows))


def test_conform_casts_a_duckdb_result_to_the_declared_types():
    result = duckdb.sql(
        "select 'k' || i as _row_key, 1700000000 + i as start_time, i::integer as tokens, "
        "0.5::decimal(10, 3) as amount, 'dropped' as not_declared from range(3) t(i)"
    ).to_arrow_table()
    table = batcher().conform(result)
    assert table.column_names == ["_row_key", *COLUMNS, "_dlt_load_id", "_dlt_id"]
    assert table.schema.field("tokens").type == pa.int64()
    assert table.schema.field("amount").type == pa.decimal128(38, 12)
    assert table.column("amount").to_pylist() == [Decimal("0.5")] * 3
    assert table.column("model").null_count == 3
    assert table.column("_dlt_id").to_pylist() == ["k0", "k1", "k2"]


def test_conform_names_a_null_in_a_not_null_column():
    result = duckdb.sql(
        "select 'k' as _row_key, null::bigint as start_time union all select 'j', 1"
    ).to_arrow_table()
    with pytest.raises(SourceDataError, match=r"costs', field 'start_time' has value None"):
        batcher().conform(result)


def test_a_composite_dlt_id_joins_the_key_columns():
    columns = {"trace_id": {"data_type": "text"}, "span_id": {"data_type": "text"}}
    b = ArrowBatcher(
        columns, source="s", table="t", load_id="L", row_key=None, dlt_id=("trace_id", "span_id")
    )
    table = b.from_columns({"trace_id": ["t1", "t1"], "span_id": ["a", "b"]}, 2)
    assert table.column("_dlt_id").to_pylist() == ["t1/a", "t1/b"]
    assert not table.schema.field("_dlt_id").nullable
