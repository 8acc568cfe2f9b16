"""Secrets never leak: API keys, webhook URLs, signing secrets and SMTP passwords come only from
the environment and appear in no output of a run.

`aispend run` (the whole daily job as `make run` runs it, Dagster console log and dlt's logger
at DEBUG, on a Dagster instance on disk) reads the OpenAI, Anthropic and Cursor APIs as
*configured* providers (the simulator, started here with marker keys it checks on every
request) and sends its alerts through a signed webhook, Slack, Teams (a dead endpoint, so the
error paths run) and e-mail over STARTTLS with a login; the success sensor then ticks. A second
run, whose OpenAI key the provider rejects, fails, and the failure sensor alerts. Every file
left behind (warehouse, serving copy, exports, reports, alert file and state, dlt's working
folder, the Dagster instance's run and event storage and compute logs, dbt's target folder of
the run), everything printed or logged, and every alert delivered is then searched for each
secret: raw, URL-encoded and base64, inside gzip, DuckDB, Parquet and SQLite files and dlt's
compressed state."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import verify_signature
from ingestion.simulator import SimConfig, Simulator
from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from tests.conftest import query
from tests.support.leaks import Leak, Searcher
from tests.support.receivers import Receiver

pytestmark = pytest.mark.integration

# a window with the simulator's first injected incident (2026-08-07) and an August budget
START, END = date(2026, 7, 22), date(2026, 8, 5)

# long, unique, none a substring of another
MARKER_OPENAI = "sk-admin-MARKER-openai-7f3c9a2e41d84b6f90a1c3d5"
MARKER_OPENAI_WRONG = "sk-admin-MARKER-revoked-2d8e5b0c94f17a36"  # rejected with a 401
MARKER_ANTHROPIC = "sk-ant-admin01-MARKER-anthropic-c52e8d17b3a94f06e2"
MARKER_CURSOR = "key_MARKER_cursor_4be1f7c09d2a6e35b8f1"
MARKER_HOOK_PATH = "MARKERhookPATH9d31e6a0b7c24f58"
MARKER_HOOK_SECRET = "whsec_MARKER_hmac_0e7a4c91d2f35b68a7"
MARKER_SLACK_PATH = "MARKERslackTOKEN5a8f2c7e91d03b46"
MARKER_TEAMS_PATH = "MARKERteamsTOKEN83b0d6f1a2c9e574"
MARKER_SMTP_PASSWORD = "smtp-pw-MARKER-3c7b9e1f05a2d846f0"
# in the environment of a DuckDB run, where nothing should read it, let alone print it (the
# PostgreSQL target's own password checks: test_warehouse_targets, test_dagster_on_postgres)
MARKER_PG_PASSWORD = "pgpw-MARKER-duckdb-run-8e2f61c0b9d4a753"
SMTP_USER = "aispend-alerts"

ROUTES_YAML = """\
routes:
  - {name: hook, channel: webhook, url_env: T_HOOK_URL, secret_env: T_HOOK_SECRET,
     base_delay_s: 0.01}
  - {name: slack, channel: slack, url_env: T_SLACK_URL, base_delay_s: 0.01}
  - {name: teams, channel: teams, url_env: T_TEAMS_URL, attempts: 2, base_delay_s: 0.01,
     timeout_s: 2}
  - name: mail
    channel: email
    to: [finops@example.com]
    include_owner: true
    attachment: data/reports/latest.html
    attempts: 2
    base_delay_s: 0.01
    smtp: {host_env: T_SMTP_HOST, port_env: T_SMTP_PORT, user_env: T_SMTP_USER,
           password_env: T_SMTP_PASSWORD, from: aispend@example.com, starttls: STARTTLS}
  - {name: file, channel: file, path: data/alerts/alerts.jsonl}
"""

# the test's own SMTP server (aiosmtpd, logger `mail.log`) is the password's rightful
# receiver and logs the AUTH exchange at DEBUG: not an output of aispend
HARNESS_LOGGERS = ("mail.log",)


# ---------------------------------------------------------------- an SMTP server


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bool]] = []  # (raw message, came over TLS)
        self.logins: list[bool] = []  # whether each AUTH carried the marker password

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.original_content, session.ssl is not None))
        return "250 OK"

    def authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = auth.login == SMTP_USER.encode() and auth.password == MARKER_SMTP_PASSWORD.encode()
        self.logins.append(ok)
        return AuthResult(success=ok, handled=False)


def _self_signed(folder: Path) -> tuple[Path, Path] | None:
    if shutil.which("openssl") is None:
        return None
    key, cert = folder / "smtp.key", folder / "smtp.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.fixture
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, _Inbox, Path | None]]:
    """aiosmtpd requiring STARTTLS and a login (plain SMTP with a login without openssl)."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    tls = _self_signed(tmp_path_factory.mktemp("smtp_tls"))
    options: dict[str, Any] = {"auth_require_tls": tls is not None}
    if tls is not None:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(tls[1], tls[0])
        options.update(tls_context=server_ctx, require_starttls=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = controller_mod.Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticator, **options
    )
    controller.start()
    try:
        yield port, inbox, tls[1] if tls else None
    finally:
        controller.stop()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the test


def test_no_secret_reaches_any_output(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    receiver: Receiver,
    smtp: tuple[int, _Inbox, Path | None],
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import dagster as dg

    from orchestration import cli
    from orchestration.defs.alerting import alerts_after_run, alerts_on_failure

    caplog.set_level(logging.DEBUG)
    smtp_port, inbox, smtp_cert = smtp
    data, home, config = tmp_path / "data", tmp_path / "dagster_home", tmp_path / "config"
    for folder in (data, home, config):
        folder.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    routes = config / "alert_routes.yaml"
    routes.write_text(
        ROUTES_YAML.replace("STARTTLS", "always" if smtp_cert else "never"), encoding="utf-8"
    )

    hook_url = receiver.url(f"/hook/{MARKER_HOOK_PATH}/ingest")
    slack_url = receiver.url(f"/slack/services/T0000/B0000/{MARKER_SLACK_PATH}")
    teams_url = f"http://127.0.0.1:{_dead_port()}/teams/webhookb2/{MARKER_TEAMS_PATH}"
    for name in ("CURSOR_API_KEY", "CURSOR_BASE_URL", "AISPEND_CONFIG_DIR", "AISPEND_CURRENCY"):
        env.delenv(name, raising=False)
    for name in ("AWS_CUR", "GCP_BILLING", "AZURE_COST", "FOCUS", "TELEMETRY"):
        env.delenv(f"{name}_EXPORT_PATH", raising=False)

    config_sim = SimConfig(
        seed=42,
        start=START,
        end=END,
        openai_key=MARKER_OPENAI,
        anthropic_key=MARKER_ANTHROPIC,
        cursor_key=MARKER_CURSOR,
    )
    with Simulator(config_sim) as sim:
        for name, value in {
            "AISPEND_WAREHOUSE": str(data / "warehouse.duckdb"),
            "AISPEND_START_DATE": START.isoformat(),
            "AISPEND_END_DATE": END.isoformat(),
            "AISPEND_PROVIDERS": "openai,anthropic,cursor,telemetry",
            "AISPEND_ALERT_ROUTES": str(routes),
            "AISPEND_ALERT_LOOKBACK_DAYS": "30",
            "DAGSTER_HOME": str(home),
            "RUNTIME__LOG_LEVEL": "DEBUG",  # dlt's own logger too
            "OPENAI_ADMIN_KEY": MARKER_OPENAI,
            "OPENAI_BASE_URL": sim.openai_base_url,
            "ANTHROPIC_ADMIN_KEY": MARKER_ANTHROPIC,
            "ANTHROPIC_BASE_URL": sim.anthropic_base_url,
            "CURSOR_API_KEY": MARKER_CURSOR,
            "CURSOR_BASE_URL": sim.cursor_base_url,
            "T_HOOK_URL": hook_url,
            "T_HOOK_SECRET": MARKER_HOOK_SECRET,
            "T_SLACK_URL": slack_url,
            "T_TEAMS_URL": teams_url,
            "T_SMTP_HOST": "127.0.0.1",
            "T_SMTP_PORT": str(smtp_port),
            "T_SMTP_USER": SMTP_USER,
            "T_SMTP_PASSWORD": MARKER_SMTP_PASSWORD,
            "PGPASSWORD": MARKER_PG_PASSWORD,
        }.items():
            env.setenv(name, value)
        if smtp_cert:  # the client verifies the throwaway certificate through the default CAs
            env.setenv("SSL_CERT_FILE", str(smtp_cert))

        # `aispend run`: the whole job, its summary, then the alerts it sends
        exit_code = cli.main(["run", "--log-level", "DEBUG"])
        served = sim.request_count

        # then the success sensor's tick on the same run (it retries the failed route)
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs(limit=1)
            alerts_after_run(_sensor_context(instance, run, dg.DagsterEventType.RUN_SUCCESS))

        # a run whose key the provider rejects: the failure's event, error text and alert
        env.setenv("OPENAI_ADMIN_KEY", MARKER_OPENAI_WRONG)
        env.setenv("AISPEND_PROVIDERS", "openai")
        failed_exit_code = cli.main(["run", "--log-level", "DEBUG"])
        with dg.DagsterInstance.get() as instance:
            [failed] = instance.get_runs(limit=1)
            context = _sensor_context(instance, failed, dg.DagsterEventType.RUN_FAILURE)
            alerts_on_failure(context.for_run_failure())
            step_error = str(
                [
                    r.event_log_entry.dagster_event.event_specific_data.error.to_string()
                    for r in instance.get_records_for_run(
                        failed.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
                    ).records
                ]
            )
    captured = capfd.readouterr()

    # ---- the run really used every secret (so finding none of them means something)
    warehouse = data / "warehouse.duckdb"
    assert exit_code == 0, captured.err[-3000:]
    assert failed_exit_code == 1 and failed.status == dg.DagsterRunStatus.FAILURE
    assert served > 0
    for provider in ("openai", "anthropic", "cursor"):  # the simulator checks every key
        rows = query(
            warehouse, "select count(*) from marts.fct_ai_spend where provider = ?", [provider]
        )
        assert rows[0][0] > 0, provider
    hooks = [r for r in receiver.requests if r.path.startswith("/hook/")]
    slacks = [r for r in receiver.requests if r.path.startswith("/slack/")]
    assert hooks and slacks, "no alert reached the HTTP receiver"
    kinds = {r.json()["kind"] for r in hooks}
    assert {"budget", "run_failure"} <= kinds, kinds
    assert "401" in step_error, step_error  # the provider rejected the key, and it is told
    for request in hooks:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert verify_signature(
            MARKER_HOOK_SECRET,
            headers["x-aispend-timestamp"],
            request.body,
            headers["x-aispend-signature"],
        )
    assert inbox.messages and all(inbox.logins), "no e-mail sent with the SMTP password"
    assert all(tls for _, tls in inbox.messages) == bool(smtp_cert)
    state_errors = _sqlite(data / "alerts" / "state.sqlite", "select last_error from alert_state")
    assert any(e and "teams" in e for (e,) in state_errors), "the failing route never ran"

    # ---- search every output
    searcher = Searcher(
        {
            "OPENAI_ADMIN_KEY": MARKER_OPENAI,
            "revoked OpenAI key": MARKER_OPENAI_WRONG,
            "ANTHROPIC_ADMIN_KEY": MARKER_ANTHROPIC,
            "CURSOR_API_KEY": MARKER_CURSOR,
            "webhook URL": hook_url,
            "webhook URL path": MARKER_HOOK_PATH,
            "webhook HMAC secret": MARKER_HOOK_SECRET,
            "Slack URL": slack_url,
            "Slack URL path": MARKER_SLACK_PATH,
            "Teams URL": teams_url,
            "Teams URL path": MARKER_TEAMS_PATH,
            "SMTP password": MARKER_SMTP_PASSWORD,
            "PGPASSWORD": MARKER_PG_PASSWORD,
        }
    )
    leaks: list[Leak] = []
    leaks += searcher.in_tree(data, "data")
    leaks += searcher.in_tree(home, "DAGSTER_HOME")
    leaks += searcher.in_file(routes, "alert_routes.yaml")
    dbt_targets = sorted((DBT_PROJECT_DIR / "target").glob(f"dbt_models-{run.run_id[:7]}-*"))
    assert dbt_targets, "dbt's target folder of the run moved: search it"
    for target in dbt_targets:
        leaks += searcher.in_tree(target, f"dbt_project/target/{target.name}")
    leaks += searcher.in_text(captured.out, "captured stdout")
    leaks += searcher.in_text(captured.err, "captured stderr")
    leaks += searcher.in_records(
        (
            f"log record {rec.name}:{rec.lineno} ({rec.levelname})",
            f"{rec.getMessage()}\n{rec.exc_text or ''}\n{rec.stack_info or ''}",
        )
        for rec in caplog.records
        if not rec.name.startswith(HARNESS_LOGGERS)
    )
    for request in receiver.requests:  # the URL is where it went; nothing else may carry it
        head = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        leaks += searcher.in_text(head, f"headers of the POST to {request.path.split('/')[1]}")
        leaks += searcher.in_bytes(
            request.body, f"body of the POST to {request.path.split('/')[1]}"
        )
    for i, (message, _) in enumerate(inbox.messages):
        leaks += searcher.in_bytes(message, f"e-mail #{i}")

    files = [
        w for w in searcher.searched if not w.startswith(("captured", "log record", "headers"))
    ]
    assert len(files) > 50, files
    for expected in ("warehouse.duckdb", "serving/aispend.duckdb", "latest.html", "alerts.jsonl"):
        assert any(expected in f for f in files), expected
    assert any("state.sqlite" in f for f in files) and any(".dlt_pipelines" in f for f in files)
    assert any(f.startswith("DAGSTER_HOME/storage") for f in files)
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted({str(leak) for leak in leaks}))


def _sensor_context(instance: Any, run: Any, status: Any) -> Any:
    import dagster as dg

    record = instance.get_records_for_run(run.run_id, of_type=status).records[0]
    return dg.build_run_status_sensor_context(
        sensor_name="aispend_alerts",
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
    )


def _sqlite(path: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_search_finds_a_planted_secret_in_every_form(tmp_path: Path) -> None:
    """The search above is only as good as its reach: plant a secret in each container."""
    import base64
    import gzip
    import sqlite3
    import zlib

    import duckdb

    secret = MARKER_OPENAI
    state = base64.b64encode(zlib.compress(f'{{"key": "{secret}"}}'.encode(), 9)).decode()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table _dlt_pipeline_state as select ? as state", [state])
        con.execute(f"copy (select '{secret}' as v) to '{tmp_path / 'p.pq'}' (format parquet)")
    (tmp_path / "j.gz").write_bytes(gzip.compress(f'{{"k": "{secret}"}}'.encode()))
    con = sqlite3.connect(tmp_path / "s.sqlite")
    con.execute("create table t (v text)")
    con.execute("insert into t values (?)", ["y" * 5000 + secret])  # on an overflow page
    con.commit()
    con.close()
    basic = base64.b64encode(f"{MARKER_CURSOR}:".encode()).decode()
    (tmp_path / "headers.txt").write_text(f"Authorization: Basic {basic}")
    (tmp_path / "inner.txt").write_text(base64.b64encode(b"ab" + secret.encode()).decode())

    searcher = Searcher({"openai": MARKER_OPENAI, "cursor": MARKER_CURSOR})
    found = {(leak.where.split(" ")[0], leak.secret) for leak in searcher.in_tree(tmp_path, "t")}
    assert found >= {
        ("t/w.duckdb", "openai"),
        ("t/p.pq", "openai"),
        ("t/j.gz", "openai"),
        ("t/s.sqlite", "openai"),
        ("t/headers.txt", "cursor"),
        ("t/inner.txt", "openai"),
    }, found
    forms = {leak.form for leak in searcher.in_tree(tmp_path, "t")}
    assert {"raw", "base64@0", "base64@2"} <= forms, forms
