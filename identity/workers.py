"""Worker processes of `identity serve --workers N` and `edge-http serve --workers N`.

Each worker is a whole server process (its own interpreter, event loop and database pool) on the
same port with SO_REUSEPORT: the kernel spreads new connections over the workers. The parent
only starts them, forwards SIGTERM/SIGINT (each worker then drains itself, as a lone server
does) and waits. Workers are started with exec, not forked from a parent that holds gRPC or
event-loop state.

A worker that exits while no stop was asked for is reported, the others are drained and stopped,
and the parent exits with status 1. It does not restart the worker: a supervisor (systemd,
Kubernetes) sees the failure and restarts the whole unit, and a crash loop shows as one, instead
of an instance that says SERVING at part of its capacity (docs/OPERATIONS.md, "Workers").

Prometheus metrics of all workers are one set: every worker writes its samples to files in a
shared folder (prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`), and whoever
serves /metrics reads them all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from types import FrameType

log = logging.getLogger(__name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
PARENT_CHECK_SECONDS = 1.0  # how often a worker looks whether its parent is still there
_POLL_SECONDS = 0.1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# How a worker told to stop ends: 0, or killed by the SIGTERM it was sent (uvicorn raises the
# signal again once its graceful shutdown is over; a worker still starting has no handler yet).
_STOPPED = (0, -signal.SIGTERM)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. from taskset or a cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


async def parent_gone(parent: int) -> None:
    """Returns once the process `parent` is no longer this one's parent: a worker whose parent
    was killed (SIGKILL cannot be forwarded) drains and stops rather than serve on, orphaned."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    log.warning("the parent process %d is gone: stopping", parent)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


class Workers:
    """`count` processes running `command`; `run()` returns the parent's exit status."""

    def __init__(self, command: Sequence[str], count: int, env: Mapping[str, str]) -> None:
        self._command = list(command)
        self._count = count
        self._env = dict(env)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopping = False
        self.metrics_dir = tempfile.mkdtemp(prefix="identity-metrics-")
        self._env[MULTIPROC_DIR] = self.metrics_dir

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._forward) for sig in _STOP_SIGNALS}
        try:
            for index in range(self._count):
                self._start(index)
            return self._wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._terminate_all()
            for proc in self._procs:
                proc.wait()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _start(self, index: int) -> None:
        proc = subprocess.Popen([*self._command, "--worker-of", str(os.getpid())], env=self._env)
        self._procs.append(proc)
        log.info("worker %d started (pid %d)", index, proc.pid)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT to the parent: every worker gets SIGTERM and drains (a second signal
        changes nothing; each worker is already on its way out)."""
        if not self._stopping:
            log.info("%s: stopping %d workers", signal.Signals(signum).name, self._count)
        self._stopping = True
        self._terminate_all()

    def _terminate_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def _wait(self) -> int:
        failed = False
        running = list(self._procs)
        while running:
            time.sleep(_POLL_SECONDS)
            for proc in list(running):
                returncode = proc.poll()
                if returncode is None:
                    continue
                running.remove(proc)
                index = self._procs.index(proc)
                self._mark_dead(proc.pid)
                if self._stopping and returncode in _STOPPED:
                    log.info("worker %d (pid %d) stopped", index, proc.pid)
                    continue
                failed = True
                log.error(
                    "worker %d (pid %d) ended: %s; stopping the others",
                    index,
                    proc.pid,
                    describe_exit(returncode),
                )
                if not self._stopping:
                    self._stopping = True
                    self._terminate_all()
        return 1 if failed else 0

    def _mark_dead(self, pid: int) -> None:
        # Gauges of a dead worker (hashes in flight) must not count any longer.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


def serve_metrics(listen: str, directory: str) -> int:
    """Prometheus /metrics of every worker, served by the parent; returns the bound port."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    return int(server.server_port)
