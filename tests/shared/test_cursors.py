"""Page cursors are signed: only a cursor the same list of the same app made opens a page."""

from __future__ import annotations

import base64
import json

import pytest
from flask import Flask

from shared.cursors import BadCursor, CursorCodec

LIST = CursorCodec("test.list")


def _app(secret: str = "secret") -> Flask:
    app = Flask(__name__)
    app.secret_key = secret
    return app


def _b64(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _values(values):  # noqa: ANN001, ANN202
    key, name = values
    return float(key), str(name)


def test_a_cursor_round_trips_its_values() -> None:
    with _app().app_context():
        cursor = LIST.encode(0.25, "c-1")
        assert LIST.decode(cursor, _values) == (0.25, "c-1")


@pytest.mark.parametrize(
    "forge",
    [
        lambda cursor: cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        # Another customer id under the first cursor's signature.
        lambda cursor: _b64([0.25, "c-2"]) + "." + cursor.rsplit(".", 1)[1],
        # The unsigned format cursors once had: base64 of the JSON list.
        lambda cursor: _b64([0.25, "c-2"]),
        lambda cursor: "garbage",
        lambda cursor: "",
    ],
)
def test_an_edited_or_made_up_cursor_is_refused(forge) -> None:  # noqa: ANN001
    with _app().app_context(), pytest.raises(BadCursor):
        LIST.decode(forge(LIST.encode(0.25, "c-1")), _values)


def test_a_cursor_opens_neither_another_list_nor_another_app() -> None:
    with _app().app_context():
        cursor = LIST.encode(0.25, "c-1")
        with pytest.raises(BadCursor):
            CursorCodec("test.other").decode(cursor, _values)
    with _app("another secret").app_context(), pytest.raises(BadCursor):
        LIST.decode(cursor, _values)


def test_values_the_list_cannot_read_are_refused() -> None:
    with _app().app_context():
        with pytest.raises(BadCursor):
            LIST.decode(LIST.encode("not a number", "c-1"), _values)
        with pytest.raises(BadCursor):
            LIST.decode(LIST.encode(0.25), _values)
