"""List DuckDB-only SQL in the dbt project, so every model runs on DuckDB and PostgreSQL alike.

    python scripts/check_portable_sql.py [PATH ...]

PATH defaults to dbt_project/models, dbt_project/tests and dbt_project/macros (files or folders;
`.sql` files are read, a `.py` model is reported: dbt-postgres runs no Python models). A DuckDB
construct belongs in a `duckdb__<name>` macro dispatched with `adapter.dispatch` (see
dbt_project/macros/dialect.sql); the bodies of `duckdb__` macros are the one place it is
allowed. Comments, SQL string literals and quoted identifiers are ignored; SQL handed to a macro
as a Jinja string (`matches_pattern("json_extract_string(...)", ...)`) is read like any SQL.

Prints `file:line: construct — what to use instead` for each finding and exits 1 if there is
any, else prints nothing and exits 0.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = (
    ROOT / "dbt_project" / "models",
    ROOT / "dbt_project" / "tests",
    ROOT / "dbt_project" / "macros",
)
ALLOWED_MACRO_PREFIX = "duckdb__"

_FUNCTIONS = {
    # name: what to use instead (the dispatched macro, or the portable form)
    "regexp_matches": "regex_contains()",
    "regexp_full_match": "regex_full_match()",
    "regexp_extract": "regex_extract()",
    "regexp_extract_all": "a dispatched macro",
    "json_extract": "json_extract_text()",
    "json_extract_string": "json_extract_text()",
    "json_merge_patch": "json_merge_objects()",
    "json_keys": "a dispatched macro",
    "json_structure": "a dispatched macro",
    "json_transform": "a dispatched macro",
    "json_group_array": "a dispatched macro",
    "json_group_object": "a dispatched macro",
    "arg_max": "arg_max() macro",
    "arg_min": "a dispatched macro",
    "max_by": "arg_max() macro",
    "min_by": "a dispatched macro",
    "count_if": "count(*) filter (where ...)",
    "any_value": "min() or max()",
    "first": "min()/max() or a window",
    "last": "min()/max() or a window",
    "list": "array_agg()",
    "list_value": "a dispatched macro",
    "epoch": "extract(epoch from ...)",
    "epoch_ms": "a dispatched macro",
    "epoch_us": "a dispatched macro",
    "epoch_ns": "a dispatched macro",
    "strftime": "year_month() or a dispatched macro",
    "strptime": "a dispatched macro",
    "date_diff": "date arithmetic or a dispatched macro",
    "datediff": "date arithmetic or a dispatched macro",
    "date_add": "date + interval",
    "date_sub": "date - interval",
    "today": "current_date",
    "time_bucket": "date_trunc()",
    "try_cast": "cast() or a dispatched macro",
    "ifnull": "coalesce()",
    "iff": "case when",
    "if": "case when",
    "ends_with": "like '%...'",
    "contains": "strpos() > 0",
    "len": "length()",
    "strlen": "length()",
    "string_split": "split_part()",
    "str_split": "split_part()",
    "printf": "a dispatched macro",
    "format": "|| or a dispatched macro",
    "hash": "md5()",
    "median": "percentile_cont(0.5) within group (...)",
    "quantile": "percentile_cont() within group (...)",
    "quantile_cont": "percentile_cont() within group (...)",
    "quantile_disc": "percentile_disc() within group (...)",
    "approx_count_distinct": "count(distinct ...)",
    "approx_quantile": "percentile_cont() within group (...)",
    "histogram": "group by",
    "fsum": "sum()",
    "kahan_sum": "sum()",
    "struct_pack": "a dispatched macro",
    "struct_extract": "a dispatched macro",
    "map": "a dispatched macro",
    "range": "generate_series()",
    "typeof": "a dispatched macro",
    "uuid": "md5() of the row's key",
    "isnan": "a dispatched macro",
    "isinf": "a dispatched macro",
    "read_csv": "a dbt source",
    "read_csv_auto": "a dbt source",
    "read_parquet": "a dbt source",
    "read_json": "a dbt source",
    "read_json_auto": "a dbt source",
    "glob": "a dbt source",
}
# types PostgreSQL does not have (or reads differently): `double` needs `double precision`
_TYPES = (
    r"double(?!\s+precision)|hugeint|uhugeint|ubigint|uinteger|usmallint|utinyint"
    r"|string|blob|struct|union|varint"
)

# (construct, regular expression on code with literals blanked, what to use instead)
_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    (
        "qualify",
        re.compile(r"\bqualify\b", re.I),
        "a window column in a CTE, filtered in the next",
    ),
    ("group by all", re.compile(r"\bgroup\s+by\s+all\b", re.I), "the grouped columns"),
    ("order by all", re.compile(r"\border\s+by\s+all\b", re.I), "the ordering columns"),
    ("* exclude", re.compile(r"\*\s*exclude\s*\(", re.I), "the columns, listed"),
    ("* replace", re.compile(r"\*\s*replace\s*\(", re.I), "the columns, listed"),
    ("columns(...)", re.compile(r"\bcolumns\s*\(", re.I), "the columns, listed"),
    (
        "union by name",
        re.compile(r"\bunion\s+(all\s+)?by\s+name\b", re.I),
        "union all of the same columns in the same order",
    ),
    (
        "positional/asof/semi/anti join",
        re.compile(r"\b(positional|asof|semi|anti)\s+join\b", re.I),
        "a join on keys, or (not) exists",
    ),
    ("using sample", re.compile(r"\busing\s+sample\b", re.I), "tablesample or a filter"),
    ("pivot/unpivot", re.compile(r"\b(un)?pivot\b", re.I), "case when per column"),
    ("// (integer division)", re.compile(r"//"), "integer_divide()"),
    ("** (power)", re.compile(r"\*\*"), "power()"),
    (
        "interval without quotes",
        re.compile(r"\binterval\s+\d+\s*(year|month|week|day|hour|minute|second)s?\b", re.I),
        "interval '1 day'",
    ),
    (
        "DuckDB-only type",
        re.compile(rf"(::\s*|\bas\s+)({_TYPES})\b", re.I),
        "a portable type (double precision, bigint, numeric, varchar)",
    ),
    (
        "DuckDB-only function",
        re.compile(r"\b(" + "|".join(sorted(_FUNCTIONS, key=len, reverse=True)) + r")\s*\(", re.I),
        "",
    ),
]
# constructs seen only with the string literals in place
_RAW_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    (
        "JSONPath arrow (->> '$...')",
        re.compile(r"->>?\s*'\$"),
        "json_extract_text()",
    ),
    ("struct literal {'key': ...}", re.compile(r"(?<!')\{\s*'[^'\n]*'\s*:"), "a dispatched macro"),
]
_TYPE_STRING = re.compile(rf"\s*({_TYPES})\s*", re.I)
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")
_ENDMACRO = re.compile(r"\{%-?\s*endmacro\s*-?%\}")


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    construct: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" — {self.hint}" if self.hint else ""
        return f"{self.path}:{self.line}: {self.construct}{hint}"


@dataclass
class _Stripped:
    code: str  # comments, Jinja, string literals and quoted identifiers blanked
    raw: str  # comments and Jinja blanked, string literals kept
    jinja_strings: list[tuple[int, str]]  # (offset, content) of the strings inside Jinja tags


def _blank(text: str) -> str:
    """Spaces for every character but newlines, so offsets and line numbers still hold."""
    return re.sub(r"[^\n]", " ", text)


def _python_string_end(text: str, start: int) -> int:
    """Index just past the Python string literal that opens at `start`."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


def _unescape(content: str) -> str:
    return re.sub(r"\\(.)", r"\1", content)


def _strip(text: str) -> _Stripped:
    code: list[str] = []
    raw: list[str] = []
    strings: list[tuple[int, str]] = []
    i, n = 0, len(text)

    def put(piece: str, *, keep_raw: bool = False, keep_code: bool = False) -> None:
        code.append(piece if keep_code else _blank(piece))
        raw.append(piece if keep_raw else _blank(piece))

    while i < n:
        two = text[i : i + 2]
        if two == "{#":
            end = text.find("#}", i + 2)
            end = n if end < 0 else end + 2
            put(text[i:end])
            i = end
        elif two in ("{{", "{%"):
            closer = "}}" if two == "{{" else "%}"
            j = i + 2
            while j < n and text[j : j + 2] != closer:
                if text[j] in "'\"":
                    end = _python_string_end(text, j)
                    strings.append((j + 1, _unescape(text[j + 1 : end - 1])))
                    j = end
                else:
                    j += 1
            end = min(n, j + 2)
            put(text[i:end])
            i = end
        elif two == "--":
            end = text.find("\n", i)
            end = n if end < 0 else end
            put(text[i:end])
            i = end
        elif two == "/*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            put(text[i:end])
            i = end
        elif text[i] == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and text[j + 1 : j + 2] == "'":
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            end = min(n, j + 1)
            code.append("'" + _blank(text[i + 1 : end - 1]) + text[end - 1 : end])
            raw.append(text[i:end])
            i = end
        elif text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end + 1
            put(text[i:end])
            i = end
        else:
            put(text[i], keep_raw=True, keep_code=True)
            i += 1
    return _Stripped("".join(code), "".join(raw), strings)


def _without_allowed_macros(text: str) -> str:
    """Blank the bodies of `duckdb__` macros: DuckDB SQL is what they are for."""
    out, pos = [], 0
    for match in _MACRO.finditer(text):
        if match.start() < pos or not match.group(1).startswith(ALLOWED_MACRO_PREFIX):
            continue
        end = _ENDMACRO.search(text, match.end())
        stop = end.end() if end else len(text)
        out.append(text[pos : match.start()])
        out.append(_blank(text[match.start() : stop]))
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _scan_sql(sql: str, base: int, whole: str, path: str) -> Iterator[Finding]:
    """Findings in `sql`, which starts at offset `base` of the file text `whole`."""
    stripped = _strip(sql)
    for name, pattern, hint in _PATTERNS:
        for match in pattern.finditer(stripped.code):
            construct = name
            if name == "DuckDB-only function":
                function = match.group(1).lower()
                construct, hint = f"{function}()", _FUNCTIONS[function]
            elif name == "DuckDB-only type":
                construct = f"type {match.group(2).lower()}"
            yield Finding(path, _line(whole, base + match.start()), construct, hint)
    for name, pattern, hint in _RAW_PATTERNS:
        for match in pattern.finditer(stripped.raw):
            yield Finding(path, _line(whole, base + match.start()), name, hint)
    for offset, content in stripped.jinja_strings:
        if _TYPE_STRING.fullmatch(content):
            type_name = content.strip().lower()
            yield Finding(
                path,
                _line(whole, base + offset),
                f"type {type_name}",
                "a portable type (double precision, bigint, numeric, varchar)",
            )
        else:
            yield from _scan_sql(content, base + offset, whole, path)


def check_file(path: Path, shown: str | None = None) -> list[Finding]:
    """Every DuckDB-only construct of one file (a `.py` model is one finding)."""
    shown = shown or str(path)
    if path.suffix == ".py":
        return [Finding(shown, 1, "Python model", "a SQL model over a table Python lands first")]
    text = _without_allowed_macros(path.read_text(encoding="utf-8"))
    return sorted(set(_scan_sql(text, 0, text, shown)))


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.sql"))
            yield from sorted(p for p in path.rglob("*.py") if "models" in p.parts)
        elif path.suffix in (".sql", ".py"):
            yield path


def check(paths: Sequence[Path] = DEFAULT_PATHS) -> list[Finding]:
    findings: list[Finding] = []
    for path in _files(paths):
        try:
            shown = str(path.resolve().relative_to(ROOT))
        except ValueError:
            shown = str(path)
        findings.extend(check_file(path, shown))
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a) for a in args] if args else list(DEFAULT_PATHS)
    findings = check(paths)
    for finding in findings:
        print(finding)
    if findings:
        print(
            f"{len(findings)} DuckDB-only construct(s): move each into a duckdb__ macro "
            "dispatched with adapter.dispatch (dbt_project/macros/dialect.sql) or write it "
            "portably",
            file=sys.stderr,
        )
    else:
        print(
            f"portable SQL: {sum(1 for _ in _files(paths))} dbt files checked, no DuckDB-only "
            "construct outside a duckdb__ macro"
        )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
