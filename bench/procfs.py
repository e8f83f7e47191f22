"""What Linux's /proc says about a process or the machine: CPU time, memory, descriptors, sockets.

Every reader answers 0 or empty when the process is gone or /proc is missing: a sample taken as
a server exits must not end the benchmark that takes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _ticks()
    except (OSError, IndexError, ValueError):
        return 0.0


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the workers of `identity serve --workers N`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its live children (a parent and its workers)."""
    return proc_cpu_seconds(pid) + sum(proc_cpu_seconds(child) for child in child_pids(pid))


def tree_thread_cpu_seconds(pid: int) -> dict[int, tuple[int, float]]:
    """thread_cpu_seconds of a process and of its live children, in one map (tids are unique)."""
    threads = thread_cpu_seconds(pid)
    for child in child_pids(pid):
        threads.update(thread_cpu_seconds(child))
    return threads


def thread_cpu_seconds(pid: int) -> dict[int, tuple[int, float]]:
    """Per thread of a process: tid → (nice value, user + system CPU seconds)."""
    threads: dict[int, tuple[int, float]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return threads
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        threads[int(task.name)] = (int(fields[16]), (int(fields[11]) + int(fields[12])) / _ticks())
    return threads


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _ticks()


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "Threads"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _tcp_inodes(pid: int) -> tuple[set[str], set[str]]:
    """(all TCP socket inodes, established ones) in the process's network namespace."""
    every: set[str] = set()
    established: set[str] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9:
                every.add(fields[9])
                if fields[3] == "01":
                    established.add(fields[9])
    return every, established


def probe(pid: int) -> dict[str, Any]:
    """Resident memory, threads, descriptors, sockets and CPU seconds of one process."""
    status = _status(pid)
    fds = sockets = tcp = tcp_established = 0
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        entries = []
    every, established = _tcp_inodes(pid)
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue  # closed between listdir and readlink
        fds += 1
        if target.startswith("socket:["):
            sockets += 1
            inode = target[8:-1]
            if inode in every:
                tcp += 1
                tcp_established += inode in established
    return {
        "rss_kib": status.get("VmRSS", 0),
        "hwm_kib": status.get("VmHWM", 0),
        "anon_kib": status.get("RssAnon", 0),
        "threads": status.get("Threads", 0),
        "fds": fds,
        "sockets": sockets,
        "tcp": tcp,
        "tcp_established": tcp_established,
        "cpu_s": round(proc_cpu_seconds(pid), 2),
    }


def thread_names(pid: int) -> dict[str, int]:
    """How many threads of each name (/proc/<pid>/task/*/comm)."""
    names: dict[str, int] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return names
    for tid in tasks:
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))
