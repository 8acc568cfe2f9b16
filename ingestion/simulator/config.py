"""Simulator configuration, kept apart so server and facade can share it without cycles."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

# How big the simulated organisation is. `small` is the default demo (about 17 API keys);
# `medium` and `large` add seeded projects/workspaces and keys on top of it (see org.py).
SCALES = ("small", "medium", "large")


def check_scale(value: str, name: str = "scale") -> str:
    """`value` if it is a known scale, else ValueError naming it and the choices."""
    if value not in SCALES:
        raise ValueError(
            f"{name}={value!r} is not a simulator scale; choose one of {', '.join(SCALES)}"
        )
    return value


@dataclass(frozen=True)
class SimConfig:
    """What the simulator serves: a seeded organisation over UTC days [start, end)."""

    seed: int = 42
    start: date = date(2026, 6, 1)
    end: date = date(2026, 11, 28)
    openai_key: str = "sk-admin-simulator"
    anthropic_key: str = "sk-ant-admin01-simulator"
    cursor_key: str = "key_cursor_simulator"
    host: str = "127.0.0.1"
    port: int = 0
    # True: emit only the Dec-2024 completions field set (tests the pipeline's tolerance).
    openai_legacy_fields: bool = False
    # small (default demo), medium (~40 keys) or large (400+ keys, >= 10M hourly rows a year)
    scale: str = "small"
    # the simulated world's last day + 1 (default: `end`): the price change and the incidents
    # are placed over [start, world_end), so runs with a later `end` and the same world_end
    # see the same past (the daily schedule, the bench's next-day run)
    world_end: date | None = None

    def __post_init__(self) -> None:
        check_scale(self.scale)
        if self.world_end is not None and self.world_end < self.end:
            raise ValueError(f"world_end {self.world_end} is before end {self.end}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO dates) for the ground-truth file."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        if self.scale == "small":  # the default organisation's ground truth stays as it was
            del out["scale"]
        if self.world_end is None:
            del out["world_end"]
        else:
            out["world_end"] = self.world_end.isoformat()
        return out
