"""`python -m ingestion.simulator`: serve the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from datetime import date

from ingestion.simulator.config import SCALES, SimConfig
from ingestion.simulator.faults import MODES, FaultPlan, parse_modes
from ingestion.simulator.sim import Simulator


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the server, optionally write ground truth, block until Ctrl-C."""
    parser = argparse.ArgumentParser(description="aispend OpenAI/Anthropic billing API simulator")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 6, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default="small",
        help="size of the organisation: small (demo), medium (~40 keys), large (400+ keys)",
    )
    parser.add_argument("--truth", help="write ground-truth JSON to this path")
    parser.add_argument("--legacy-fields", action="store_true", help="Dec-2024 OpenAI fields")
    parser.add_argument(
        "--faults",
        type=parse_modes,
        default=(),
        help=f"comma-separated fault modes to serve: {', '.join(MODES)}",
    )
    parser.add_argument(
        "--page-limit", type=int, help="cap the page size of the usage/cost endpoints"
    )
    args = parser.parse_args(argv)
    cfg = SimConfig(
        seed=args.seed,
        start=args.start,
        end=args.end,
        host=args.host,
        port=args.port,
        openai_legacy_fields=args.legacy_fields,
        scale=args.scale,
    )
    faults = FaultPlan(args.faults, page_limit=args.page_limit) if args.faults else None
    with Simulator(cfg, faults=faults) as sim:
        if args.truth:
            print(f"ground truth: {sim.write_ground_truth(args.truth)}")
        print(f"OpenAI:    {sim.openai_base_url}  (Authorization: Bearer {cfg.openai_key})")
        print(
            f"Anthropic: {sim.anthropic_base_url}  (x-api-key: {cfg.anthropic_key}, "
            "anthropic-version: 2023-06-01)"
        )
        if faults:
            print(f"Faults:    {', '.join(faults.modes)}")
        if cfg.scale != "small":
            print(f"Scale:     {cfg.scale}")
        print("Ctrl-C to stop", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly under process managers too
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
