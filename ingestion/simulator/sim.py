"""`Simulator`: the organisation plus an HTTP server on a daemon thread, with ground truth."""

from __future__ import annotations

import json
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from ingestion.simulator.config import SimConfig
from ingestion.simulator.org import SyntheticOrg
from ingestion.simulator.server import Faults, SimHTTPServer


def _jsonable(value: Any) -> Any:
    """Decimals as strings (exact), dates as ISO strings, for the ground-truth file."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Simulator:
    """Local stand-in for the OpenAI and Anthropic admin billing APIs.

    Use as a context manager (or call start()/stop()); base URLs are valid while running.
    """

    def __init__(self, config: SimConfig | None = None, *, faults: Faults | None = None) -> None:
        self.config = config or SimConfig()
        self.org = SyntheticOrg(
            self.config.seed,
            self.config.start,
            self.config.end,
            self.config.scale,
            world_end=self.config.world_end,
        )
        self.faults = faults
        self._server: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> Simulator:
        """Bind the port and serve on a daemon thread; idempotent."""
        if self._server is None:
            self._server = SimHTTPServer(self.config, self.org, self.faults)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="aispend-simulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (an ephemeral one when config.port is 0)."""
        if self._server is None:
            raise RuntimeError("simulator is not running; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI clients, including `/v1`."""
        return f"http://{self.config.host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (paths start with /v1/organizations)."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def cursor_base_url(self) -> str:
        """Base URL for the Cursor Admin API (paths start with /teams)."""
        return f"http://{self.config.host}:{self.port}/cursor"

    @property
    def request_count(self) -> int:
        """HTTP requests served so far (all paths, errors included)."""
        return self._server.request_count if self._server else 0

    # ---- ground truth -------------------------------------------------------------------
    def daily_totals(self) -> list[dict[str, Any]]:
        """One row per (provider, day) in the window, zero days included."""
        return self.org.daily_totals()

    def cursor_daily_totals(self) -> list[dict[str, Any]]:
        """Cursor truth per UTC day: billed_cost_usd = exact sum of chargedCents / 100."""
        from ingestion.simulator.cursor_api import team_for

        return team_for(self.config.seed, self.config.start, self.config.end).daily_totals()

    def claude_code_daily(self) -> list[dict[str, Any]]:
        """Claude Code truth per (UTC day, customer_type); `api` usage is inside Anthropic's."""
        from ingestion.simulator.claude_code import report_for

        return report_for(self.org).daily()

    def incidents(self) -> list[dict[str, Any]]:
        """Injected incidents as dicts (ISO dates)."""
        return [i.as_dict() for i in self.org.incidents]

    def restate(self, provider: str, day: date, factor: float) -> None:
        """Scale one provider-day's usage and cost; later responses reflect it."""
        self.org.restate(provider, day, factor)

    def ground_truth(self) -> dict[str, Any]:
        """Everything a pipeline test compares against, JSON-ready."""
        return _jsonable(
            {
                "config": self.config.as_dict(),
                "daily_totals": self.daily_totals(),
                "incidents": self.incidents(),
                "prices": self.org.price_book(),
            }
        )

    def write_ground_truth(self, path: str | Path) -> Path:
        """Write ground_truth() as JSON; returns the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.ground_truth(), indent=2) + "\n")
        return out
