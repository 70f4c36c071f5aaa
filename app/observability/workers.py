"""Metrics with several worker processes (`xinzheng serve --workers N`): prometheus-client's
multiprocess mode.

`serve` makes a private directory and names it in PROMETHEUS_MULTIPROC_DIR before uvicorn
starts the workers, which inherit it (prometheus-client reads it when first imported, in each
worker). Each worker writes its values there; `/metrics` adds up every worker's. The directory
is removed when `serve` exits. An operator who sets PROMETHEUS_MULTIPROC_DIR themselves keeps
their directory: it is used as it is, and left in place (empty it before each start).

uvicorn has no hook that runs when a worker dies, so the server process looks every few seconds
for the files of workers that are no longer running and marks them dead
(`prometheus_client.multiprocess.mark_process_dead`): their gauges (connections in use) stop
counting, their counters keep counting, as with gunicorn's `child_exit` hook.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator

# Read by prometheus-client when it is first imported: this module imports it only to reap.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
REAP_SECONDS = 5.0
LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


@contextlib.contextmanager
def metrics_directory(workers: int) -> Iterator[str | None]:
    """The multiprocess directory for this run of the server, or None with one worker."""
    given = os.environ.get(MULTIPROC_DIR)
    if workers < 2 and not given:
        yield None  # one process: its own registry
        return
    path = given or tempfile.mkdtemp(prefix="xinzheng-metrics-")
    os.environ[MULTIPROC_DIR] = path  # inherited by the workers uvicorn starts
    stop = threading.Event()
    reaper = threading.Thread(target=_reap, args=(path, stop), name="xinzheng-metrics-reaper", daemon=True)
    reaper.start()
    try:
        yield path
    finally:
        stop.set()
        reaper.join()
        if not given:
            shutil.rmtree(path, ignore_errors=True)
            del os.environ[MULTIPROC_DIR]


def _reap(path: str, stop: threading.Event) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    while not stop.wait(REAP_SECONDS):
        for pid in dead_workers(path):
            mark_process_dead(pid, path)


def dead_workers(path: str) -> set[int]:
    """The processes that left live gauges in `path` and are no longer running."""
    pids = {int(m.group(1)) for name in os.listdir(path) if (m := LIVE_FILE.fullmatch(name))}
    return {pid for pid in pids if not _running(pid)}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True
