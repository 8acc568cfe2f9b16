"""A real Dagster deployment for end-to-end tests: `dagster-webserver` and `dagster-daemon` on
the project's workspace and a temporary DAGSTER_HOME holding a copy of the instance settings.

Each process leads a process group of its own (its code server and the run workers it launches
are in it): on exit the whole group is terminated, then killed, so no run worker outlives the
test and goes on writing to a warehouse. Their output goes to `<home>/<name>.log`; when the body
of the `with` raises, the tails of both logs are printed, so pytest shows them with the failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT = 180
# provider keys, base URLs and export paths: a deployment under test only ever sees the simulator
PROVIDER_ENV = (
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_ADMIN_KEY",
    "ANTHROPIC_BASE_URL",
    "CURSOR_API_KEY",
    "CURSOR_BASE_URL",
    "AWS_CUR_EXPORT_PATH",
    "GCP_BILLING_EXPORT_PATH",
    "AZURE_COST_EXPORT_PATH",
    "FOCUS_EXPORT_PATH",
    "TELEMETRY_EXPORT_PATH",
)


class DeploymentFailed(RuntimeError):
    """The webserver or the daemon did not come up; the message holds its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environ(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any aispend, provider or Dagster setting, plus
    `variables`."""
    from orchestration.sources import SOURCES

    drop = set(PROVIDER_ENV) | {"DAGSTER_HOME"}
    for spec in SOURCES.values():
        drop |= {spec.key_env, spec.url_env, spec.path_env} - {""}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AISPEND_")}
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        RUNTIME__DLTHUB_TELEMETRY="false",
        DO_NOT_TRACK="1",
    )
    env.update(variables)
    return env


@dataclass
class Deployment:
    home: Path
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 6000) -> str:
        """The end of the webserver's and the daemon's log, for a failure message."""
        return "".join(
            f"\n--- {name} log ({self.home / f'{name}.log'}), last {tail} chars ---\n"
            f"{self.log(name)[-tail:]}"
            for name in ("webserver", "daemon")
        )


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the process group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM to the process's group (it, its code server, its run workers), wait for the
    group to go, then SIGKILL whatever is left of it."""
    pgid = proc.pid  # start_new_session: the process leads its own group
    if _signal_group(pgid, signal.SIGTERM):
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            if not _signal_group(pgid, 0):  # signal 0: is any process of it left?
                break
            time.sleep(0.2)
        _signal_group(pgid, signal.SIGKILL)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _spawn(
    name: str, args: list[str], home: Path, env: dict[str, str], stack: ExitStack
) -> subprocess.Popen[bytes]:
    log: IO[bytes] = stack.enter_context((home / f"{name}.log").open("wb"))
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.callback(_stop, proc)
    return proc


def _wait_for_webserver(dep: Deployment, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{dep.url}/server_info", timeout=2):
                return
        except OSError:
            code = dep.procs["webserver"].poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with {code}" if code is not None else "timed out"
                raise DeploymentFailed(
                    f"dagster-webserver did not start ({why}):\n{dep.log('webserver')}"
                ) from None
            time.sleep(1)


def _wait_for_daemon(dep: Deployment, deadline: float) -> None:
    """Until the queued-run coordinator daemon has sent a heartbeat to the instance."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dep.home)) as instance:
        while "QUEUED_RUN_COORDINATOR" not in instance.get_daemon_heartbeats():
            code = dep.procs["daemon"].poll()
            if code is not None or time.monotonic() > deadline:
                why = f"exited with {code}" if code is not None else "timed out"
                raise DeploymentFailed(
                    f"dagster-daemon did not start ({why}):\n{dep.log('daemon')}"
                )
            time.sleep(1)


def _terminate_unfinished_runs(dep: Deployment, grace: float = 60) -> None:
    """A test that failed mid-run: ask Dagster to end its runs before the processes go."""
    import dagster as dg
    from dagster_graphql import DagsterGraphQLClient

    with dg.DagsterInstance.from_config(str(dep.home)) as instance:
        unfinished = [r.run_id for r in instance.get_runs() if not r.is_finished]
        if not unfinished:
            return
        try:
            DagsterGraphQLClient("127.0.0.1", port_number=dep.port).terminate_runs(unfinished)
        except Exception:  # teardown goes on: the process groups are killed next anyway
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            runs = [instance.get_run_by_id(i) for i in unfinished]
            if all(r is None or r.is_finished for r in runs):
                return
            time.sleep(1)


def _init_storage(home: Path, env: Mapping[str, str]) -> None:
    """Create the instance's storage once, before two processes start on it: a webserver and a
    daemon that both find it empty both stamp alembic's version table, which then has two heads
    and the slower one fails ("more than one head present")."""
    done = subprocess.run(
        [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise DeploymentFailed(
            f"the Dagster instance in {home} could not be set up:\n{done.stderr}"
        )


@contextmanager
def dagster_deployment(
    home: Path, variables: Mapping[str, str], instance_yaml: Path | None = None
) -> Iterator[Deployment]:
    """Webserver and daemon from the repo root on `home` (a copy of `instance_yaml`, by default
    orchestration/dagster.yaml), with a clean environment plus `variables`. Raises
    DeploymentFailed (with the log) when either does not come up; both process groups are
    stopped on exit, whatever happened."""
    daemon_bin, web_bin = BIN / "dagster-daemon", BIN / "dagster-webserver"
    for exe in (daemon_bin, web_bin):
        if not exe.exists():
            raise DeploymentFailed(f"no {exe.name} beside {sys.executable}")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(instance_yaml or ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = clean_environ({**variables, "DAGSTER_HOME": str(home)})
    _init_storage(home, env)
    dep = Deployment(home=home, port=free_port())
    with ExitStack() as stack:
        dep.procs["webserver"] = _spawn(
            "webserver",
            [str(web_bin), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(dep.port)],
            home,
            env,
            stack,
        )
        dep.procs["daemon"] = _spawn(
            "daemon", [str(daemon_bin), "run", "-w", "workspace.yaml"], home, env, stack
        )
        deadline = time.monotonic() + START_TIMEOUT
        _wait_for_webserver(dep, deadline)
        _wait_for_daemon(dep, deadline)
        stack.callback(_terminate_unfinished_runs, dep)  # runs first on exit
        try:
            yield dep
        except BaseException:
            print(dep.logs(), file=sys.stderr)  # pytest shows it under the failure
            raise
