"""scripts/check_portable_sql.py finds DuckDB-only SQL outside duckdb__ macros, with its line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "check_portable_sql", ROOT / "scripts" / "check_portable_sql.py"
)
assert _spec and _spec.loader
checker = importlib.util.module_from_spec(_spec)
sys.modules["check_portable_sql"] = checker
_spec.loader.exec_module(checker)


def findings(tmp_path: Path, text: str, name: str = "model.sql") -> list[tuple[int, str]]:
    path = tmp_path / name
    path.write_text(text)
    return [(f.line, f.construct) for f in checker.check_file(path)]


def test_the_dbt_project_has_no_duckdb_only_sql(capsys: pytest.CaptureFixture[str]):
    assert checker.main([]) == 0, capsys.readouterr().out
    assert "no DuckDB-only construct" in capsys.readouterr().out


def test_each_construct_is_named_with_its_line(tmp_path: Path):
    sql = """select
    a,
    list(b) as bs,
    regexp_matches(c, 'x') as m,
    x // 2 as half,
    cast(y as double) as y,
    z::hugeint as z,
    d + interval 1 day as tomorrow,
    strftime(d, '%Y') as year
from t
group by all
qualify row_number() over (partition by a) = 1
"""
    assert findings(tmp_path, sql) == [
        (3, "list()"),
        (4, "regexp_matches()"),
        (5, "// (integer division)"),
        (6, "type double"),
        (7, "type hugeint"),
        (8, "interval without quotes"),
        (9, "strftime()"),
        (11, "group by all"),
        (12, "qualify"),
    ]


def test_portable_sql_comments_literals_and_identifiers_pass(tmp_path: Path):
    sql = """-- qualify, group by all and list(x) in a comment are fine
{# so is regexp_matches(x, 'y') in a Jinja comment #}
/* and json_extract_string(a, '$.b') in a block comment */
select
    'group by all // list(x)' as text,
    "qualify" as quoted,
    cast(x as double precision) as x,
    d + interval '1 day' as tomorrow,
    count(*) filter (where ok) as n
from t
group by 1, 2
"""
    assert findings(tmp_path, sql) == []


def test_sql_handed_to_a_macro_as_a_jinja_string_is_read(tmp_path: Path):
    sql = """select
    {{ matches_pattern("json_extract_string(tags, '$.\\"k\\"')", 'v') }} as hit,
    {{ regex_contains('usage_type', "'MP:.*Token'") }} as ok,
    {{ arg_max('a', 'b') }} as latest
from {{ source_or_empty('raw_x', 't', {'amount': 'double', 'n': 'bigint'}) }}
"""
    assert findings(tmp_path, sql) == [(2, "json_extract_string()"), (5, "type double")]


def test_duckdb_macros_may_hold_duckdb_sql_other_implementations_may_not(tmp_path: Path):
    macros = """{% macro year(d) -%}
    {{ return(adapter.dispatch('year', 'aispend')(d)) }}
{%- endmacro %}

{% macro duckdb__year(d) -%}
    strftime({{ d }}, '%Y')
{%- endmacro %}

{% macro postgres__year(d) -%}
    to_char({{ d }}, 'YYYY')
{%- endmacro %}

{% macro default__year(d) -%}
    strftime({{ d }}, '%Y')
{%- endmacro %}
"""
    assert findings(tmp_path, macros, "dialect.sql") == [(14, "strftime()")]


def test_a_python_model_is_reported(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.py").write_text("def model(dbt, session):\n    return None\n")
    (models / "ok.sql").write_text("select 1 as one\n")
    found = checker.check([models])
    assert [(Path(f.path).name, f.construct) for f in found] == [("m.py", "Python model")]


def test_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "bad.sql"
    path.write_text("select *\nfrom t\nqualify x = 1\n")
    assert checker.main([str(path)]) == 1
    out = capsys.readouterr()
    assert f"{path}:3: qualify" in out.out
    assert "1 DuckDB-only construct(s)" in out.err
