"""Run the dbt CLI against a run's warehouse from a test, as the daily job does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from orchestration.settings import Settings
from tests.conftest import DBT_DIR


def run_dbt(settings: Settings, root: Path, *args: str) -> list[dict[str, Any]]:
    """Run dbt on the settings' target (its own target and log folders under `root`: the
    project's target/ holds the manifest Dagster reads); return run_results.json's results."""
    env = {**os.environ, **settings.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target_path = root / "dbt_target"
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), *args, "--target-path", str(target_path), "--log-path", str(root)]
    done = subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dbt {' '.join(args)} on {settings.target}:\n{done.stdout}"
    results: list[dict[str, Any]] = json.loads((target_path / "run_results.json").read_text())[
        "results"
    ]
    return results
