"""A real, throwaway PostgreSQL server for tests: initdb in a temporary folder, `pg_ctl start` on
a free loopback port, a login role and a database, and `pg_ctl stop` plus removal at the end.

Debian's server package (`postgresql`, binaries in /usr/lib/postgresql/<version>/bin) is used;
`AISPEND_PG_BIN` names another bin folder. PostgreSQL refuses to run as root: when the tests
run as root, the server runs as the `postgres` OS user (created when missing), like a packaged
server. Clients log in over TCP with a password (scram-sha-256), as they would on a real
deployment; the password is a long unique marker, so a test can search outputs for it.

Durability is switched off (fsync, synchronous_commit, full_page_writes): a test server is
thrown away, and this makes it several times faster on a small machine.

If the server cannot be set up, `PostgresStartFailed` is raised with the command's output and
the server log: the tests that need it fail, they are never skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "postgres"
ROLE = "aispend"
OS_USER = "postgres"
START_TIMEOUT = 60


class PostgresStartFailed(RuntimeError):
    """The server could not be initialised or started; the message holds its log."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server and the database a test should use."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)
    superuser_password: str = field(repr=False)
    data_dir: Path
    log_path: Path

    def env(self) -> dict[str, str]:
        """libpq's variables for this server and database (what AISPEND_TARGET=postgres reads)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
        }

    def connect(self, database: str | None = None, superuser: bool = False) -> Any:
        """A psycopg2 connection (autocommit) as the role, or as the superuser."""
        import psycopg2

        con = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER if superuser else self.user,
            password=self.superuser_password if superuser else self.password,
            dbname=database or self.database,
            connect_timeout=10,
        )
        con.autocommit = True
        return con

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        con = self.connect()
        try:
            with con.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            con.close()

    def create_database(self, name: str) -> PostgresServer:
        """A new empty database owned by the role; the server for it."""
        con = self.connect("postgres", superuser=True)
        try:
            with con.cursor() as cur:
                cur.execute(f'create database "{name}" owner "{self.user}"')
        finally:
            con.close()
        return replace(self, database=name)

    def log(self, tail: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return "(no server log)"


def pg_bin() -> Path:
    """The folder with initdb and pg_ctl: AISPEND_PG_BIN, else PATH, else Debian's newest."""
    explicit = os.environ.get("AISPEND_PG_BIN", "").strip()
    if explicit:
        return Path(explicit)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise PostgresStartFailed(
            "no PostgreSQL server binaries (initdb): install Debian's `postgresql` package "
            "(apt-get install -y postgresql) or set AISPEND_PG_BIN to their folder"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> tuple[list[str], str | None]:
    """The command prefix that runs a server binary, and the OS user that owns its files."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=True,
            capture_output=True,
        )
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", OS_USER, "--"], OS_USER
    return ["su", OS_USER, "-s", "/bin/sh", "-c", '"$0" "$@"'], OS_USER


def _run(cmd: list[str], what: str, log_path: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if proc.returncode != 0:
        server_log = ""
        if log_path is not None and log_path.exists():
            server_log = f"\n--- server log {log_path} ---\n{log_path.read_text(errors='replace')}"
        raise PostgresStartFailed(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}{server_log}"
        )


def start_server(root: Path, port: int | None = None, database: str = "aispend") -> PostgresServer:
    """initdb in `root/data` and start the server (log in `root/server.log`); on a free port
    unless `port` is given. Raises PostgresStartFailed with the log; nothing is left running
    then."""
    binaries = pg_bin()
    for name in ("initdb", "pg_ctl"):
        if not (binaries / name).exists():
            raise PostgresStartFailed(f"no {name} in {binaries} (set AISPEND_PG_BIN)")
    prefix, owner = _as_server_user()
    root.mkdir(parents=True, exist_ok=True)
    data, log_path, pwfile = root / "data", root / "server.log", root / "pwfile"
    superuser_password = f"pg-super-{secrets.token_hex(12)}"
    server = PostgresServer(
        host="127.0.0.1",
        port=port or _free_port(),
        user=ROLE,
        database=database,
        password=f"pgpw-MARKER-{secrets.token_hex(16)}",
        superuser_password=superuser_password,
        data_dir=data,
        log_path=log_path,
    )
    pwfile.write_text(superuser_password + "\n")
    if owner is not None:
        shutil.chown(root, owner)
        shutil.chown(pwfile, owner)
    try:
        _run(
            [
                *prefix,
                str(binaries / "initdb"),
                *("-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile)),
                *("--auth-host", "scram-sha-256", "--auth-local", "scram-sha-256"),
                *("--encoding", "UTF8", "--locale", "C", "--no-sync"),
            ],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    for attempt in range(3):
        options = " ".join(
            [
                f"-p {server.port} -h 127.0.0.1 -k {root}",
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        try:
            _run(
                [
                    *prefix,
                    str(binaries / "pg_ctl"),
                    *("-D", str(data), "-l", str(log_path), "-o", options),
                    *("-w", "-t", str(START_TIMEOUT), "start"),
                ],
                "pg_ctl start",
                log_path,
            )
            break
        except PostgresStartFailed as exc:
            # another process took the free port between the probe and the start: try another
            if port is not None or attempt == 2 or "could not bind" not in str(exc):
                raise
            server = replace(server, port=_free_port())
    try:
        _create_role_and_database(server)
    except BaseException:
        stop_server(root)
        raise
    return server


def stop_server(root: Path) -> None:
    """`pg_ctl stop` (fast) on the server in `root/data`, if it runs."""
    data = root / "data"
    if not (data / "postmaster.pid").exists():
        return
    prefix, _ = _as_server_user()
    stop = [str(pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    _run([*prefix, *stop], "pg_ctl stop", root / "server.log")


@contextlib.contextmanager
def postgres_server(database: str = "aispend") -> Iterator[PostgresServer]:
    """Start a server in a new temporary folder; stop it and remove the folder on exit."""
    # not under pytest's tmp dirs: those are private to this user, the server runs as another
    root = Path(tempfile.mkdtemp(prefix="aispend-pg-"))
    try:
        server = start_server(root, database=database)
        try:
            yield server
        finally:
            stop_server(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _create_role_and_database(server: PostgresServer) -> None:
    """An ordinary login role (not a superuser) owning the database, as on a real server."""
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            con = server.connect("postgres", superuser=True)
            break
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresStartFailed(
                    f"cannot connect to the test server: {exc}\n--- server log ---\n{server.log()}"
                ) from exc
            time.sleep(0.2)
    try:
        with con.cursor() as cur:
            cur.execute(f'create role "{server.user}" login password %s', [server.password])
            cur.execute(f'create database "{server.database}" owner "{server.user}"')
    finally:
        con.close()


# Registered by importing them into a test module (or conftest):
#     from tests.support.postgres import postgres_db_fixture, postgres_fixture
# and used by their names, `postgres` and `postgres_db`.
@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session (database `aispend`)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(name="postgres_db")
def postgres_db_fixture(postgres: PostgresServer, request: pytest.FixtureRequest) -> PostgresServer:
    """A new empty database on the session's server, for one test."""
    safe = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    return postgres.create_database(f"t_{safe}_{secrets.token_hex(3)}")


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.support.postgres start DIR [--port N]` starts a throwaway server in DIR
    and prints `export PG...=...` lines for the shell (eval them); `stop DIR` stops it and
    removes DIR. For CI and local tries of AISPEND_TARGET=postgres (`make run-postgres`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.postgres")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("dir", type=Path)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    root = args.dir.resolve()
    if args.action == "stop":
        stop_server(root)
        shutil.rmtree(root, ignore_errors=True)
        return 0
    if (root / "data").exists():
        raise SystemExit(f"{root}/data exists: stop that server first (`stop {args.dir}`)")
    server = start_server(root, port=args.port)
    for name, value in server.env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
