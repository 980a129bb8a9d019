"""CSV downloads: rows streamed as CSV, every cell safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV injection), and customers' comments and ids are hostile input, so
such text cells get a leading apostrophe. A 10-line function rather than a library: the one
maintained package for it (defusedcsv) wraps the csv module with a wider rule set that also
rewrites ``|`` and ``%`` in cells, which would change what our exports hold.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
# Bytes gathered before a part of the download is sent: few writes, little memory.
FLUSH_AT = 64_000


def defuse(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The header and then every row as CSV text, in parts of about ``FLUSH_AT`` characters."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([defuse(value) for value in row])
        if buffer.tell() > FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_download(header: Sequence[str], rows: Iterable[Iterable[Any]], filename: str) -> Response:
    """A streamed CSV attachment named ``filename``. Exports hold customers' data: no cache
    (a browser's or a proxy's) may keep a copy."""
    return Response(
        stream_with_context(csv_lines(header, rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
