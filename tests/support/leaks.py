"""Search files and captured text for secrets, in the forms a leak can take.

Each secret is looked for as raw bytes, URL-encoded, and base64 (standard and URL-safe, at
all three byte alignments, so it is found inside a larger encoded blob such as an HTTP Basic
header). Compressed or encoded containers are opened first: gzip files, DuckDB files and
Parquet files (every table's rows as text), SQLite files (every row, so a value split over
overflow pages is still seen) and dlt's compressed pipeline state.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import re
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb

# DuckDB column types whose values cannot carry a string
_CANNOT_HOLD_TEXT = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT|FLOAT|DOUBLE|DECIMAL.*|DATE"
    r"|TIME.*|INTERVAL|UUID)$"
)


@dataclass(frozen=True)
class Leak:
    where: str  # a file (and the table or form inside it), or a captured stream
    secret: str  # the secret's name
    form: str  # raw, url-encoded, base64, …
    value: str = ""  # the (test marker) value found

    def __str__(self) -> str:
        return f"{self.secret} {self.value!r} ({self.form}) in {self.where}"


def _b64_fragments(value: bytes) -> dict[str, bytes]:
    """Base64 text of `value` as it appears at any offset inside a longer encoded blob."""
    out: dict[str, bytes] = {}
    for shift in range(3):
        total = shift + len(value)
        first, last = -(-8 * shift // 6), 8 * total // 6  # chars that depend on `value` only
        padded = b"\0" * shift + value
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            fragment = encode(padded)[first:last]
            out[f"{name}@{shift}"] = fragment
    return out


def forms(secret: str) -> dict[str, bytes]:
    """Every byte form of a secret worth looking for, by name."""
    raw = secret.encode()
    out = {"raw": raw, "url-encoded": quote(secret, safe="").encode()}
    out["url-encoded (path)"] = quote(secret).encode()
    out.update(_b64_fragments(raw))
    return {name: value for name, value in out.items() if len(value) >= 8}


class Searcher:
    """Looks for named secrets in bytes, text, and files of any kind it can open."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)
        self.patterns = {name: forms(value) for name, value in self.secrets.items()}
        self.searched: list[str] = []

    def in_bytes(self, data: bytes, where: str) -> list[Leak]:
        found = []
        for name, by_form in self.patterns.items():
            for form, pattern in by_form.items():
                if pattern in data:
                    found.append(Leak(where, name, form, self.secrets[name]))
                    break
        return found

    def in_text(self, text: str, where: str) -> list[Leak]:
        self.searched.append(where)
        return self.in_bytes(text.encode("utf-8", "surrogateescape"), where)

    def in_file(self, path: Path, label: str) -> list[Leak]:
        self.searched.append(label)
        data = path.read_bytes()
        found = self.in_bytes(data, label)
        if data[:2] == b"\x1f\x8b":
            with contextlib.suppress(OSError, EOFError):
                found += self.in_bytes(gzip.decompress(data), f"{label} (gunzipped)")
        if data[8:12] == b"DUCK":
            found += self._duckdb(f"'{path}'", label, attach=True)
        elif data[:4] == b"PAR1":
            found += self._duckdb(f"read_parquet('{path}')", label, attach=False)
        elif data[:16] == b"SQLite format 3\x00":
            found += self._sqlite(path, label)
        return found

    def in_tree(self, root: Path, label: str) -> list[Leak]:
        found: list[Leak] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            found += self.in_file(path, f"{label}/{path.relative_to(root)}")
        return found

    # ------------------------------------------------------------ containers

    def _rows(self, rows: Iterable[tuple[object, ...]]) -> Iterator[bytes]:
        for row in rows:
            for value in row:
                if isinstance(value, bytes):
                    yield value
                elif value is not None:
                    yield str(value).encode("utf-8", "surrogateescape")

    def _scan_values(self, values: Iterable[bytes], where: str) -> list[Leak]:
        """One search over all values (joined), plus their inflated forms."""
        values = list(values)
        found = self.in_bytes(b"\0".join(values), where)
        inflated = [_inflate(v) for v in values if v[:2] == b"eN"]  # base64 of zlib data
        return found + self.in_bytes(b"\0".join(inflated), f"{where} (inflated)")

    def in_records(self, records: Iterable[tuple[str, str]]) -> list[Leak]:
        """(where, text) pairs, e.g. log records: one search, then the records that hit."""
        records = list(records)
        self.searched.extend(where for where, _ in records)
        blob = "\0".join(text for _, text in records).encode("utf-8", "surrogateescape")
        if not self.in_bytes(blob, "records"):
            return []
        found: list[Leak] = []
        for where, text in records:
            found += self.in_bytes(text.encode("utf-8", "surrogateescape"), where)
        return found

    def _duckdb(self, relation: str, label: str, attach: bool) -> list[Leak]:
        found: list[Leak] = []
        with duckdb.connect() as con:
            if attach:
                con.execute(f"attach {relation} as f (read_only)")
                tables = con.execute(
                    "select schema_name, table_name from duckdb_tables() where database_name = 'f'"
                ).fetchall()
                relations = {f"{s}.{t}": f'f."{s}"."{t}"' for s, t in tables}
            else:
                relations = {"rows": relation}
            for name, rel in relations.items():
                columns = [
                    f'cast("{c}" as varchar)'
                    for c, kind, *_ in con.execute(f"describe select * from {rel}").fetchall()
                    if not _CANNOT_HOLD_TEXT.match(kind)
                ]
                if columns:
                    rows = con.execute(f"select {', '.join(columns)} from {rel}").fetchall()
                    found += self._scan_values(self._rows(rows), f"{label} table {name}")
        return found

    def _sqlite(self, path: Path, label: str) -> list[Leak]:
        found: list[Leak] = []
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = con.execute("select name from sqlite_master where type = 'table'").fetchall()
            for (table,) in tables:
                rows = con.execute(f'select * from "{table}"').fetchall()
                found += self._scan_values(self._rows(rows), f"{label} table {table}")
        finally:
            con.close()
        return found


def _inflate(value: bytes) -> bytes:
    """dlt stores pipeline state as base64 of zlib-compressed JSON."""
    try:
        return zlib.decompress(base64.b64decode(value, validate=True))
    except (ValueError, zlib.error):
        return b""
