"""Starting Spark, after checking that everything it needs is installed.

A missing Java, pyspark or JDBC driver is one line that says what to install, raised before a
single table is read: a job that fails after twenty minutes of reading for want of a jar
wastes the twenty minutes.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Debian's libpostgresql-jdbc-java installs the driver here.
DEFAULT_JDBC_JAR = Path("/usr/share/java/postgresql.jar")


SHUFFLE_PARTITIONS = 16


class SparkUnavailable(RuntimeError):
    """Something Spark needs is not installed; the message says what to install."""


def java_executable() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def jdbc_jar(given: str | Path | None) -> Path:
    """The PostgreSQL JDBC driver to use: the one given, else Debian's."""
    return Path(given) if given else DEFAULT_JDBC_JAR


def preflight(*, jdbc: bool, jar: str | Path | None = None) -> Path | None:
    """Raise SparkUnavailable unless pyspark, Java and (for ``jdbc``) the driver are there;
    returns the driver's path when ``jdbc``."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable("pyspark is not installed: pip install 'kundresa[spark]'") from None
    if java_executable() is None:
        raise SparkUnavailable(
            "Spark needs a Java 17 runtime and none was found (set JAVA_HOME or install one: "
            "apt-get install openjdk-17-jre-headless)"
        )
    if not jdbc:
        return None
    path = jdbc_jar(jar)
    if not path.is_file():
        raise SparkUnavailable(
            f"no PostgreSQL JDBC driver at {path}: apt-get install libpostgresql-jdbc-java, "
            "or give the jar with --jdbc-jar PATH"
        )
    return path


def spark_session(
    master: str = "local[*]",
    *,
    app_name: str = "kundresa",
    jars: Sequence[Path] = (),
    config: dict[str, str] | None = None,
):
    """A SparkSession in UTC with Arrow on (the builders get pandas frames through Arrow)."""
    from pyspark.sql import SparkSession

    # Workers run this very interpreter (its packages, our code) unless told otherwise; a
    # cluster's executors get theirs from the environment the README describes.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # One Python worker per core, reused: the model is loaded once per worker, not per task.
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.showConsoleProgress", "false")
        # A Python worker that dies says where, instead of "exited unexpectedly".
        .config("spark.python.worker.faulthandler.enabled", "true")
        .config("spark.sql.execution.pyspark.udf.faulthandler.enabled", "true")
        # 200 shuffle partitions (Spark's default) is thousands of tiny Python tasks on a
        # laptop; a cluster sets its own with --config spark.sql.shuffle.partitions=N.
        .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
    )
    if jars:
        builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    url = spark.sparkContext.uiWebUrl
    if url:
        log.info("spark started", extra={"master": master, "ui": url})
    return spark
