"""A real HTTP receiver on 127.0.0.1 for alert tests (Slack, Teams and webhook endpoints)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from ingestion.simulator.server import ClosingHTTPServer

SECRET_PATH = "/services/T0000/B0000/XXXXsecretTOKENxxxx"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 200
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = SECRET_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                rec.requests.append(
                    Recorded(self.path, dict(self.headers.items()), body, time.monotonic())
                )
                status, headers = rec.script.pop(0) if rec.script else (rec.default, {})
            payload = b"ok" if status < 300 else b"server says no"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ClosingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
