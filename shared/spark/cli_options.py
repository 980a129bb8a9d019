"""The command-line options every Spark command shares (``kundresa score`` and ``kundresa
train`` with ``--engine spark``): where Spark runs and where it reads from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click


def spark_source_options(command: Callable) -> Callable:
    """``--master``, ``--source`` and ``--jdbc-jar``, in that order in ``--help``."""
    options = (
        click.option("--master", default="local[*]", show_default=True, help="Spark master URL."),
        click.option(
            "--source",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            default=None,
            help="Spark: read a Parquet export (kundresa export) instead of the database.",
        ),
        click.option(
            "--jdbc-jar",
            default=None,
            help="Spark: the PostgreSQL JDBC driver jar "
            "(default: Debian's /usr/share/java/postgresql.jar).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command
