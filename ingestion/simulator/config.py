"""Simulator configuration, kept apart so server and facade can share it without cycles."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any


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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO dates) for the ground-truth file."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        return out
