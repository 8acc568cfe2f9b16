"""A fixed simulated world (SimConfig.world_end / AISPEND_SIMULATOR_WORLD_END): a run with a
later window end sees the same past, and the embedded simulator then delivers only the new
files, as a real provider does on the next day."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from ingestion.simulator import SimConfig
from ingestion.simulator.org import SyntheticOrg
from orchestration.settings import ConfigError, load_settings
from orchestration.sources import write_simulated_exports

START, END, WORLD = date(2026, 8, 10), date(2026, 10, 1), date(2026, 10, 3)


def test_the_past_does_not_change_when_the_window_ends_a_day_later() -> None:
    today = SyntheticOrg(7, START, END, world_end=WORLD)
    tomorrow = SyntheticOrg(7, START, END + timedelta(days=1), world_end=WORLD)
    assert today.price_change_day == tomorrow.price_change_day
    common = [r for r in tomorrow.daily_totals() if r["date"] < END.isoformat()]
    assert today.daily_totals() == common
    assert [i.as_dict() for i in today.incidents] == [
        i.as_dict() for i in tomorrow.incidents if i.start_date < END
    ]
    # nothing from the days after the window is served or known
    assert today.day(END) is None
    assert all(i.start_date < END for i in today.incidents)


def test_without_a_world_end_the_world_is_the_window() -> None:
    assert SyntheticOrg(7, START, END).world_end == END
    with pytest.raises(ValueError, match="before end"):
        SimConfig(start=START, end=END, world_end=END - timedelta(days=1))
    assert "world_end" not in SimConfig(start=START, end=END).as_dict()


def test_the_setting_must_cover_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISPEND_START_DATE", START.isoformat())
    monkeypatch.setenv("AISPEND_END_DATE", END.isoformat())
    monkeypatch.setenv("AISPEND_SIMULATOR_WORLD_END", WORLD.isoformat())
    assert load_settings().simulator_world_end == WORLD
    monkeypatch.setenv("AISPEND_SIMULATOR_WORLD_END", "2026-09-01")
    with pytest.raises(ConfigError, match="AISPEND_SIMULATOR_WORLD_END=2026-09-01"):
        load_settings()


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".complete"
    }


def test_the_next_day_delivers_only_new_files_and_ends_equal_to_a_full_write(
    tmp_path: Path,
) -> None:
    seed, start = 5, date(2026, 9, 20)
    day1 = SimConfig(seed=seed, start=start, end=date(2026, 10, 1), world_end=WORLD)
    day2 = SimConfig(seed=seed, start=start, end=date(2026, 10, 2), world_end=WORLD)
    root = tmp_path / "a" / "world"
    write_simulated_exports(SyntheticOrg(seed, start, day1.end, world_end=WORLD), day1, root)
    before = _files(root)
    write_simulated_exports(SyntheticOrg(seed, start, day2.end, world_end=WORLD), day2, root)
    after = _files(root)

    # the earlier days' telemetry files and the earlier months' files were left alone
    kept = [name for name in before if "2026-09-" in name or "202609" in name]
    assert kept, sorted(before)
    untouched = [n for n in kept if n in after and after[n][1] == before[n][1]]
    assert any("telemetry" in n for n in untouched)
    assert all(after[n] == before[n] for n in before if "telemetry" in n), "a past day changed"
    new = sorted(set(after) - set(before))
    assert any(n.endswith("2026-10-01.jsonl") for n in new), new

    # and the folder holds exactly what a fresh full delivery for the new window holds
    fresh = tmp_path / "b" / "fresh"  # (a folder of its own: other worlds are removed)
    write_simulated_exports(SyntheticOrg(seed, start, day2.end, world_end=WORLD), day2, fresh)
    assert {n: b for n, (b, _) in after.items()} == {n: b for n, (b, _) in _files(fresh).items()}
    # delivering the same day again writes nothing
    write_simulated_exports(SyntheticOrg(seed, start, day2.end, world_end=WORLD), day2, root)
    assert _files(root) == after
    assert os.path.exists(root / ".complete")
