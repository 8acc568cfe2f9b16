"""Anomaly detection quality on seeds the thresholds were not tuned on, and the fidelity of
the simulator-built lines that evaluation uses.

Thresholds were tuned on seed 42 and 7–14; seeds 1–6 are held out. No warehouse or pipeline
run is needed (a few seconds). That the simulator-built lines equal the pipeline's is checked
on a real run in test_pipeline_on_simulator.py.
"""

from __future__ import annotations

import pytest

from analytics.detection import evaluate_lines, simulator_lines, simulator_window

HELD_OUT = (1, 2, 3, 4, 5, 6)
SCOPES = ("org", "provider", "project", "api_key")


@pytest.mark.parametrize("seed", HELD_OUT)
def test_held_out_seed_meets_the_targets(seed: int):
    start, end = simulator_window()
    lines, org = simulator_lines(seed, start, end)
    quality, matched = evaluate_lines(
        lines,
        org.incidents,
        start,
        end,
        SCOPES,
        seed=seed,
        price_change_days=[org.price_change_day],
    )
    row = quality.iloc[0]
    assert row["recall"] >= 0.9, matched
    assert row["precision"] >= 0.8, matched
    assert row["detected_first_day"] == row["incidents"] == 4, matched
