"""The load generator the HTTP benchmarks share: ``clients`` connections from two processes
POST to one endpoint for a fixed time; latencies of the expected answers and a count of
everything else come back as requests/s, p50 and p99."""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable

# Makes the n-th body of one connection; the prefix keeps client-made ids unique across them.
BodyMaker = Callable[[int, str], bytes]
PROCESSES = 2


def constant_body(body: bytes, _counter: int, _prefix: str) -> bytes:
    """A BodyMaker (with functools.partial) that sends the same body every time."""
    return body


def _client_process(
    port: int,
    path: str,
    make_body: BodyMaker,
    headers: dict,
    expected: int,
    seconds: float,
    threads: int,
    queue,  # noqa: ANN001
) -> None:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        prefix = uuid.uuid4().hex[:8]
        # http.client reconnects by itself when the server closed the connection.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        counter = 0
        while time.monotonic() < stop_at:
            body = make_body(counter, prefix)
            counter += 1
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == expected
                if answer.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                with lock:
                    errors[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((latencies, errors[0]))


def measure(
    port: int,
    path: str,
    make_body: BodyMaker,
    headers: dict,
    expected: int,
    seconds: float,
    clients: int,
    warm_up: float = 1.0,
) -> dict[str, float]:
    """Drive ``path`` for ``seconds`` after a short warm-up that is not measured."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    _client_process(port, path, make_body, headers, expected, warm_up, 2, queue)
    queue.get()
    threads = max(1, clients // PROCESSES)
    processes = [
        multiprocessing.Process(
            target=_client_process,
            args=(port, path, make_body, headers, expected, seconds, threads, queue),
        )
        for _ in range(PROCESSES)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    latencies: list[float] = []
    errors = 0
    for _ in processes:
        got, failed = queue.get()
        latencies.extend(got)
        errors += failed
    for process in processes:
        process.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "errors": errors,
    }


def wait_until_healthy(server, port: int, what: str) -> None:  # noqa: ANN001 - a Popen
    """Wait (up to a minute) for a server started by a benchmark to answer ``/healthz``;
    RuntimeError naming ``what`` when it exits or never answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)
