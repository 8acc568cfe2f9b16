"""Which billing-export files a run must read: a ledger of what each file held when loaded.

The export sources (AWS CUR, GCP billing, Azure cost, FOCUS) merge on `_partition`, a billing
account's month or an export's billing period: the rows a run yields for a partition replace
all of its earlier rows. Reading every file of the window on every run re-stamped every row
with the run's load id, so the daily run's cost grew with history, in ingestion and in the dbt
chain downstream (which rebuilds the usage days whose load ids moved).

The ledger, kept in the resource's dlt state (so it is committed with the load it describes,
and restored from the warehouse with it), records for each file its size and modification time,
the partitions its rows and its quarantined rows fell in (with their months) and which of those
partitions have been loaded. A run then reads:

1. every file that is new or changed (size or modification time), whole;
2. of every other file, only the rows of the "stale" partitions: those a file of (1) held or
   holds, those a removed file held, and those of its own that the window now reaches but no
   run has loaded (a wider window, or the next month of a backfill).

Every partition a run yields is therefore yielded whole, from every file holding it, and a
partition it does not yield keeps its rows, its load id and its quarantine rows. A file whose
partitions are known from its path (a CUR billing-period folder) and all lie outside the
window is not read at all, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from ingestion._quarantine import UNKNOWN_PARTITION, Quarantine, RowError

log = logging.getLogger(__name__)
STATE_KEY = "export_files"


def signature(path: Path) -> list[int]:
    """Size and modification time (ns) of a file: a re-delivered file changes one of them."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


class FileLedger:
    """The export files one resource read, per file: `sig`, `parts` (partition -> its month,
    None for a row whose month cannot be read) and `loaded` (the partitions of `parts` that a
    run has yielded).

    Use: `yield from ledger.rows(files, reader)`, then the quarantine markers.
    """

    def __init__(
        self,
        source: str,
        state: dict[str, Any],
        quarantine: Quarantine,
        months: Collection[str],
        period_column: str,
    ) -> None:
        self.source = source
        self.files: dict[str, dict[str, Any]] = state.setdefault(STATE_KEY, {})
        self.quarantine = quarantine
        self.months = set(months)
        self.period_column = period_column
        self.stale: set[str] = set()
        self._sigs: dict[str, list[int]] = {}
        self.read_whole = 0
        self.read_partly = 0
        self.skipped = 0

    def in_window(self, period: str | None) -> bool:
        """A month of the window; a row whose month cannot be read is in every window."""
        return period is None or period in self.months

    def _window_parts(self, parts: dict[str, str | None]) -> set[str]:
        return {p for p, period in parts.items() if self.in_window(period)}

    def rows(
        self,
        paths: Iterable[Path],
        reader: Callable[[Path], Iterable[dict[str, Any] | RowError]],
        known_parts: Callable[[Path], dict[str, str | None]] | None = None,
    ) -> Iterator[Any]:
        """The rows (and quarantine rows) this run must yield from `paths`, each file read
        with `reader`; see `reads` and `route`."""
        for path, only in self.reads(paths, known_parts):
            yield from self.route(path, reader(path), only)
        self.finish()

    def reads(
        self,
        paths: Iterable[Path],
        known_parts: Callable[[Path], dict[str, str | None]] | None = None,
    ) -> Iterator[tuple[Path, set[str] | None]]:
        """(file, None) for each file to read whole, then (file, partitions) for each other
        file holding a stale partition, whose other rows must not be yielded. Lazy: the
        partitions of the files read whole are stale too, which is known once they are read.

        `known_parts(path)`: the partitions of a file known from its path alone; a new or
        changed file none of whose known partitions is in the window is not read."""
        current = {str(p): p for p in paths}
        changed: dict[str, Path] = {}
        for key, path in current.items():
            entry = self.files.get(key)
            # taken before the file is read: a file rewritten while it is read differs next run
            self._sigs[key] = signature(path)
            if entry is not None and entry["sig"] == self._sigs[key]:
                self.stale |= self._window_parts(entry["parts"]) - set(entry["loaded"])
                continue
            if known_parts is not None and not self._window_parts(known_parts(path)):
                continue  # outside the window; its entry (if any) is stale and stays so
            if entry is not None:
                self.stale |= self._window_parts(entry["parts"])
            changed[key] = path
        for key in [k for k in self.files if k not in current]:
            self.stale |= self._window_parts(self.files.pop(key)["parts"])
        for path in changed.values():
            self.read_whole += 1
            yield path, None
        for key, path in current.items():
            entry = self.files.get(key)
            if entry is None or key in changed:
                continue
            only = self.stale & set(entry["parts"])
            if only:
                self.read_partly += 1
                yield path, only
            else:
                self.skipped += 1

    def route(
        self,
        path: Path,
        items: Iterable[dict[str, Any] | RowError],
        only: set[str] | None,
    ) -> Iterator[Any]:
        """The data rows of `items` in the window (and, when `only` is given, in those
        partitions), and the quarantine rows of its bad rows likewise; a whole read records
        the file's partitions (the window's and the others) in the ledger."""
        parts: dict[str, str | None] = {}
        quarantine = self.quarantine
        for item in items:
            if isinstance(item, RowError):
                partition = item.partition or UNKNOWN_PARTITION
                period = item.period if item.partition else None
            else:
                partition, period = item["_partition"], item[self.period_column]
            if only is None:
                parts.setdefault(partition, period)
            elif partition not in only:
                continue
            if not self.in_window(period):
                continue
            if isinstance(item, RowError):
                yield quarantine.put(item)
            else:
                yield item
        key = str(path)
        if only is None:
            self.files[key] = {
                "sig": self._sigs[key],
                "parts": parts,
                "loaded": sorted(self._window_parts(parts)),
            }
            self.stale |= self._window_parts(parts)
        else:
            entry = self.files[key]
            entry["loaded"] = sorted(set(entry["loaded"]) | only)

    def finish(self) -> None:
        """Every stale partition some file still holds counts as read whole (its quarantine
        rows are replaced by this run's); logs what was read."""
        held = set().union(*(e["parts"] for e in self.files.values()))
        for partition in sorted(self.stale & (held | {UNKNOWN_PARTITION})):
            self.quarantine.covers(partition)
        log.info(
            "%s: %d export files read whole, %d read for %d stale partitions, %d unchanged "
            "and skipped",
            self.source,
            self.read_whole,
            self.read_partly,
            len(self.stale),
            self.skipped,
        )
