"""Fixtures of the webhook tests: real receivers on loopback ports, and settings that allow
them (``webhooks_allow_private``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import make_settings
from tests.ports import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny threaded HTTP server that records every POST; ``answer`` decides the reply."""

    port: int
    status: int = 200
    reply: bytes = b"ok"
    # Called before answering (e.g. to wait for something): the receiver is "slow".
    before_answer: Callable[[], None] | None = None
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/kundresa"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers), body))
                if receiver.before_answer is not None:
                    receiver.before_answer()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: connections to the port are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def deliveries(self) -> list[str]:
        """The Kundresa-Delivery ids received, in order."""
        return [r.headers["Kundresa-Delivery"] for r in self.received]


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    """Make started receivers on free loopback ports; all are stopped after the test."""
    made: list[Receiver] = []

    def make() -> Receiver:
        receiver = Receiver(free_port()).start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhooks_allow_private=True)
