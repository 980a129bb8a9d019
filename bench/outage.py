"""Outage benchmark: survey responses posted under load while PostgreSQL restarts (issue 19).

    .venv/bin/python bench/outage.py [--seconds 20] [--clients 8] [--outage-at 5]
        [--outage-seconds 5] [--kill-worker] [--kill-at SECONDS] [--keep-log PATH]

Starts a private PostgreSQL cluster (initdb into a temporary folder, on a free loopback port;
the shared server on 5432 is never touched), migrates it, creates a site key, and serves the
survey service under gunicorn (survey_service.gunicorn_conf, 2 workers, log level INFO) against
it. ``--clients`` connections then post ``POST /v1/responses`` for ``--seconds``, each with a
fresh response id; a request that fails (connection error or 5xx, also 429) is retried with the
same id, after its ``Retry-After`` when the answer has one, else after a short backoff, until
it is acknowledged or the run ends. At ``--outage-at`` the database is stopped
(``pg_ctl stop -m fast``) and started again ``--outage-seconds`` later; ``--kill-worker``
also kills one gunicorn worker with SIGKILL at ``--kill-at`` (default three quarters in).

Prints acknowledged ids against the rows stored (lost = acknowledged but not stored; doubled =
rows sharing an id, and stored minus acknowledged), the answers by status, how many 5xx
carried ``Retry-After``, the lines the service logged while the database was down (access
lines, tracebacks, the rest) and acknowledgements per second before, during and after the
outage. The reference is the ideal: nothing lost, nothing doubled, every 5xx with
``Retry-After``, and a handful of log lines per outage rather than one traceback per request.
PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user; as
anyone else, as that user. The load generator shares the machine's cores with everything else.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import PROCESSES, wait_until_healthy  # noqa: E402 - needs ROOT on the path
from tests.ports import free_port  # noqa: E402

ORIGIN = "https://bench.example"
PATH = "/v1/responses"
# A connection error is recorded with this status.
NO_ANSWER = 0
REQUEST_TIMEOUT = 15.0
# Retries without Retry-After back off from the first to the last, doubling.
BACKOFF = (0.05, 1.0)


# --- the private PostgreSQL cluster ------------------------------------------------------


def _postgres_bin() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else the newest Debian install."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name)
    )
    if not installed:
        raise SystemExit("no PostgreSQL binaries (pg_ctl) found")
    return installed[-1]


class Cluster:
    """A throwaway cluster in ``folder``; as root its commands run as the ``postgres`` user,
    who then owns the folder."""

    def __init__(self, folder: Path) -> None:
        self.bin = _postgres_bin()
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        folder.mkdir()
        if self._as_postgres:
            shutil.chown(folder, "postgres", "postgres")
            # The temporary folder holding ours is root's alone (0700); postgres must pass through.
            folder.parent.chmod(0o711)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


# --- the survey service ------------------------------------------------------------------


def _prepare_database(url: str) -> dict[str, str]:
    """Migrate, add the built-in surveys, and return the headers of the shop's back office
    (site key and ingest token): the answers name customers, which a browser could not
    unsigned."""
    from shared.auth import create_site, create_token
    from shared.db.migrate import upgrade
    from shared.db.session import dispose_engines
    from shared.surveys import ensure_builtin_surveys

    upgrade(url)
    ensure_builtin_surveys(url)
    key = create_site(url, "Outage bench shop", [ORIGIN])
    token = create_token(url, "outage-back-office", "ingest")
    dispose_engines()
    return {"X-Site-Key": key, "Authorization": f"Bearer {token}"}


def _serve(database_url: str, folder: Path, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KUNDRESA_VAR_DIR": str(folder / "var"),
        "KUNDRESA_RATE_LIMIT_PUBLIC": "100000000/minute",
        "KUNDRESA_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prom"),
        "KUNDRESA_LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",
    }
    (folder / "prom").mkdir()
    with log.open("wb") as output:
        # Its own session: a Ctrl-C in the terminal reaches us, and we stop it in order.
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:survey_service.gunicorn_conf",
                "survey_service.app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_healthy(server, port, f"the survey service (its log: {log})")
    return server, port


def _workers(master: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(pid) for pid in (task / "children").read_text().split()]
    return children


def _stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the clients -------------------------------------------------------------------------


@dataclass
class ClientLog:
    """What one client process saw: (time, status, had Retry-After) per answer, and the
    time each response id was acknowledged."""

    answers: list[tuple[float, int, bool]] = field(default_factory=list)
    acknowledged: dict[str, float] = field(default_factory=dict)
    unfinished: int = 0


def _body(response_id: str, prefix: str, counter: int) -> bytes:
    return json.dumps(
        {
            "response_id": response_id,
            "survey_key": "post_purchase",
            "visitor_id": f"{prefix}-v{counter}",
            "customer_id": f"{prefix}-c{counter % 5000}",
            "stage": "purchase",
            "locale": "sv",
            "answers": {"csat": 4, "ces": 6, "nps": 9, "comment": "Snabb leverans"},
        }
    ).encode()


def _retry_delay(retry_after: str | None, attempt: int) -> float:
    if retry_after:
        with contextlib.suppress(ValueError):
            return max(0.0, float(retry_after))
    low, high = BACKOFF
    return min(high, low * 2**attempt) * random.uniform(0.75, 1.25)


def _client(
    port: int, headers: dict[str, str], stop_at: float, log: ClientLog, lock: threading.Lock
) -> None:
    prefix = uuid.uuid4().hex[:8]
    answers: list[tuple[float, int, bool]] = []
    acknowledged: dict[str, float] = {}
    counter = 0
    pending: tuple[str, bytes] | None = None
    attempt = 0
    while time.time() < stop_at:
        if pending is None:
            response_id = str(uuid.uuid4())
            pending = (response_id, _body(response_id, prefix, counter))
            counter += 1
            attempt = 0
        response_id, body = pending
        # The server closes every connection (keep-alive is off), so one per request.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        retry_after = None
        try:
            connection.request("POST", PATH, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            status = answer.status
            retry_after = answer.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            status = NO_ANSWER
        finally:
            connection.close()
        now = time.time()
        answers.append((now, status, retry_after is not None))
        if 200 <= status < 300:
            acknowledged[response_id] = now
            pending = None
        elif status == NO_ANSWER or status >= 500 or status == 429:
            time.sleep(max(0.0, min(_retry_delay(retry_after, attempt), stop_at - time.time())))
            attempt += 1
        else:
            # A 4xx other than 429 will not change on a retry: counted, and the id given up.
            pending = None
    with lock:
        log.answers += answers
        log.acknowledged.update(acknowledged)
        log.unfinished += pending is not None


def _client_process(
    port: int, headers: dict[str, str], stop_at: float, threads: int, queue: multiprocessing.Queue
) -> None:
    # The parent stops the run on Ctrl-C; a traceback from each child would only add noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = ClientLog()
    lock = threading.Lock()
    pool = [
        threading.Thread(target=_client, args=(port, headers, stop_at, log, lock))
        for _ in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put(log)


# --- one run -----------------------------------------------------------------------------


@dataclass
class Timeline:
    started: float = 0.0
    ended: float = 0.0
    outage_started: float = 0.0
    database_back: float = 0.0
    killed_at: float | None = None
    log_at_outage: int = 0
    log_at_recovery: int = 0


def _disrupt(
    cluster: Cluster,
    server: subprocess.Popen,
    log: Path,
    args: argparse.Namespace,
    timeline: Timeline,
) -> None:
    """The outage and the worker kill, at their times from the start of the run."""
    steps: list[tuple[float, str]] = [(args.outage_at, "outage")]
    if args.kill_worker:
        kill_at = args.kill_at if args.kill_at is not None else 0.75 * args.seconds
        steps.append((kill_at, "kill"))
    for offset, step in sorted(steps):
        time.sleep(max(0.0, timeline.started + offset - time.time()))
        if step == "outage":
            timeline.log_at_outage = log.stat().st_size
            timeline.outage_started = time.time()
            cluster.stop("fast")
            time.sleep(max(0.0, timeline.outage_started + args.outage_seconds - time.time()))
            cluster.start()
            timeline.database_back = time.time()
            timeline.log_at_recovery = log.stat().st_size
        else:
            workers = _workers(server.pid)
            if workers:
                os.kill(random.choice(workers), signal.SIGKILL)
                timeline.killed_at = time.time()


def _start_clients(
    port: int, site: dict[str, str], stop_at: float, clients: int
) -> tuple[list[multiprocessing.Process], multiprocessing.Queue]:
    headers = {"Content-Type": "application/json", **site}
    queue: multiprocessing.Queue = multiprocessing.Queue()
    per_process = [clients // PROCESSES + (i < clients % PROCESSES) for i in range(PROCESSES)]
    processes = [
        multiprocessing.Process(target=_client_process, args=(port, headers, stop_at, n, queue))
        for n in per_process
        if n
    ]
    for process in processes:
        process.start()
    return processes, queue


def _collect(processes: list[multiprocessing.Process], queue: multiprocessing.Queue) -> ClientLog:
    merged = ClientLog()
    for _ in processes:
        got = queue.get()
        merged.answers += got.answers
        merged.acknowledged.update(got.acknowledged)
        merged.unfinished += got.unfinished
    for process in processes:
        process.join()
    return merged


def _stored_ids(url: str) -> tuple[int, set[str], int]:
    """Rows in ``responses``, their distinct ids, and the rows whose id another row shares."""
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT response_id FROM responses").fetchall()
    ids = Counter(str(row[0]) for row in rows)
    return len(rows), set(ids), sum(n for n in ids.values() if n > 1)


def _log_lines(log: Path, start: int, end: int) -> Counter:
    with log.open("rb") as file:
        file.seek(start)
        chunk = file.read(max(0, end - start)).decode("utf-8", "replace")
    kinds: Counter = Counter(kilobytes=len(chunk.encode()) // 1024)
    for line in chunk.splitlines():
        kinds["lines"] += 1
        if "Traceback (most recent call last)" in line:
            kinds["tracebacks"] += 1
        elif '.access"' in line:
            kinds["access"] += 1
        else:
            kinds["other"] += 1
    return kinds


def _kinds(kinds: Counter) -> str:
    return (
        f"{kinds['lines']:8,} lines ({kinds['kilobytes']:,} KB): {kinds['tracebacks']:,} "
        f"tracebacks, {kinds['access']:,} access lines, {kinds['other']:,} other"
    )


def _rate(acknowledged: dict[str, float], start: float, end: float) -> float:
    if end <= start:
        return float("nan")
    return sum(start <= at < end for at in acknowledged.values()) / (end - start)


def report(
    args: argparse.Namespace, timeline: Timeline, log: ClientLog, stored: tuple, server_log: Path
) -> list[str]:
    rows, stored_ids, shared_rows = stored
    acknowledged = set(log.acknowledged)
    statuses = Counter(status for _, status, _ in log.answers)
    errors_5xx = [(status, has) for _, status, has in log.answers if status >= 500]
    with_retry_after = sum(has for _, has in errors_5xx)
    named = {201, 200, 500, 503, NO_ANSWER}
    other = sum(n for status, n in statuses.items() if status not in named)
    other_kinds = ", ".join(
        f"{status}: {n}" for status, n in sorted(statuses.items()) if status not in named
    )
    outage = _log_lines(server_log, timeline.log_at_outage, timeline.log_at_recovery)
    whole = _log_lines(server_log, 0, server_log.stat().st_size)
    down = timeline.database_back - timeline.outage_started
    back_acks = [at for at in log.acknowledged.values() if at >= timeline.database_back]
    recovered = min(back_acks) - timeline.database_back if back_acks else float("nan")
    kill = (
        f"; one worker killed (SIGKILL) at {timeline.killed_at - timeline.started:.1f} s"
        if timeline.killed_at
        else ""
    )
    before = _rate(log.acknowledged, timeline.started, timeline.outage_started)
    during = _rate(log.acknowledged, timeline.outage_started, timeline.database_back)
    after = _rate(log.acknowledged, timeline.database_back, timeline.ended)
    return [
        f"{args.clients} clients for {args.seconds:.0f} s against gunicorn (2 workers, INFO); "
        f"PostgreSQL down at {timeline.outage_started - timeline.started:.1f} s for {down:.1f} s"
        f" (stop -m fast .. started again){kill}; {os.cpu_count()} cores shared by all",
        f"acknowledged (distinct ids, 2xx)  {len(acknowledged):8,}",
        f"stored (rows in responses)        {rows:8,}",
        f"lost (acknowledged, not stored)   {len(acknowledged - stored_ids):8,}   (reference 0)",
        f"doubled: rows sharing an id       {shared_rows:8,}   (reference 0)",
        f"doubled: stored - acknowledged    {rows - len(acknowledged):8,}"
        f"   ({len(stored_ids - acknowledged)} stored, never acknowledged;"
        f" {log.unfinished} ids unacknowledged at the end)",
        f"answers: 201 {statuses[201]:,}  200 (retry recognised) {statuses[200]:,}"
        f"  500 {statuses[500]:,}  503 {statuses[503]:,}  other {other:,}"
        + (f" ({other_kinds})" if other_kinds else "")
        + f"  connection errors {statuses[NO_ANSWER]:,}",
        f"5xx with Retry-After              {with_retry_after:8,} of {len(errors_5xx):,}"
        "   (reference: all)",
        f"service log while down ({down:.1f} s)   {_kinds(outage)}"
        "   (reference: a few lines per outage, no traceback each)",
        f"service log, whole run            {_kinds(whole)}",
        f"acknowledged/s before {before:7.0f}   during {during:7.0f}   after {after:7.0f}"
        f"   (first 2xx {recovered:.2f} s after the database was back)",
    ]


def run(args: argparse.Namespace, folder: Path) -> list[str]:
    cluster = Cluster(folder / "cluster")
    server = None
    processes: list[multiprocessing.Process] = []
    try:
        cluster.create()
        cluster.start()
        site = _prepare_database(cluster.url)
        server_log = args.keep_log or folder / "service.log"
        server, port = _serve(cluster.url, folder, server_log)
        timeline = Timeline(started=time.time())
        processes, queue = _start_clients(port, site, timeline.started + args.seconds, args.clients)
        _disrupt(cluster, server, server_log, args, timeline)
        log = _collect(processes, queue)
        timeline.ended = time.time()
        # Answers still being written finish before the rows are counted.
        _stop_server(server)
        stored = _stored_ids(cluster.url)
        return report(args, timeline, log, stored, server_log)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        if server is not None:
            _stop_server(server)
        if cluster.running():
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop("immediate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--outage-at", type=float, default=5.0, help="seconds into the load")
    parser.add_argument("--outage-seconds", type=float, default=5.0)
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--kill-at", type=float, help="seconds into the load")
    parser.add_argument("--keep-log", type=Path, help="write the service's log here")
    args = parser.parse_args()
    if args.outage_at + args.outage_seconds >= args.seconds:
        parser.error("the outage must end before the load does")
    # SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="kundresa-outage-"))
    try:
        lines = run(args, folder)
    except KeyboardInterrupt:
        raise SystemExit("interrupted; server, cluster and temporary folder removed") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
