"""Fixtures for the widget's browser tests: the survey app in demo mode on a loopback port (one
per test module, so modules never see each other's rows), its admin API for surveys the
built-in ones do not cover, and fresh visitors in the session's headless Chromium."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from shared.auth import create_token
from shared.db.session import dispose_engines
from survey_service.app import create_app
from tests.conftest import make_settings, make_sqlite_url
from tests.widget.custom_surveys import every_question_type, never_sampled

DESKTOP = {"viewport": {"width": 1200, "height": 900}}
# Chromium reports a refused connection as a console line of its own; that is the browser
# describing the network, not an error thrown by the widget into the page.
NETWORK_NOISE = "Failed to load resource"


def serve_in_thread(server) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class LiveService:
    base: str
    database_url: str
    # (path, mimetype, status) of every POST the service answered, in order.
    posts: queue.Queue
    admin_token: str

    def forget_posts(self) -> None:
        while not self.posts.empty():
            self.posts.get_nowait()

    def wait_for_post(self, path: str, mimetype: str | None = None) -> int:
        """The status of the next POST to ``path`` sent as ``mimetype`` (None: any)."""
        while True:
            # A generous bound so a widget that never sends fails instead of hanging.
            seen_path, seen_mimetype, status = self.posts.get(timeout=60)
            if seen_path == path and mimetype in (None, seen_mimetype):
                return status

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to the admin API over HTTP, as an admin's script would make it."""
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, **kwargs)

    def create_survey(self, survey: dict[str, Any]) -> None:
        created = self.admin("POST", "/v1/admin/surveys", json=survey)
        assert created.status_code == 201, created.text


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The survey app in demo mode on a free loopback port, noting the POSTs it answers
    (Playwright cannot see a sendBeacon sent while a page unloads; the server can)."""
    from flask import request
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("widget-service")
    database_url = make_sqlite_url(folder)
    app = create_app(make_settings(folder, database_url, demo_mode=True))
    posts: queue.Queue = queue.Queue()

    @app.after_request
    def note_post(response):
        if request.method == "POST":
            posts.put((request.path, request.mimetype, response.status_code))
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    token = create_token(database_url, "widget-tests", "admin")
    for base in serve_in_thread(server):
        yield LiveService(base, database_url, posts, token)
    dispose_engines()


@pytest.fixture
def open_page(chromium):
    """A fresh visitor (own context, so own storage) whose page errors are collected.
    ``open_page(context=c)`` opens another tab for a visitor already seen."""
    contexts = []

    def opener(context=None, **options):
        if context is None:
            context = chromium.new_context(**{**DESKTOP, **options})
            contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(f"pageerror: {error}"))
        page.on(
            "console",
            lambda message: (
                page.errors.append(f"console.{message.type}: {message.text}")
                if message.type == "error" and NETWORK_NOISE not in message.text
                else None
            ),
        )
        return page

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def custom_surveys(service: LiveService) -> LiveService:
    """The module's service with the custom surveys of ``custom_surveys.py`` created."""
    for survey in (every_question_type(), never_sampled()):
        service.create_survey(survey)
    return service
