"""CPU and memory of the whole server (gunicorn master and every worker), for Prometheus.

In multiprocess mode prometheus_client's own process collector describes only the worker
that happens to answer a scrape, so `rate(process_cpu_seconds_total[5m])` would jump between
workers. This collector reads /proc instead:

    server CPU = master (user + system + reaped children) + each live child (same sum)

A worker that exits is reaped by the master and its CPU moves into the master's
`cutime`/`cstime`, so the sum survives worker restarts. Reaping between our reads of
/proc can make one reading a little high or low; a shared high-water mark (a file in the
metrics directory, under a lock) keeps the counter monotonic whichever worker answers.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

#: Environment variable naming the server's root process (the gunicorn master); set by
#: workflows.gunicorn_hooks.on_starting and inherited by every worker.
SERVER_PID_ENV = "THAIYYAL_SERVER_PID"

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    cpu_seconds: float  # own user+system plus reaped children's
    rss_bytes: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/<pid>/stat, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17,
    # starttime=22, rss=24 in proc(5) numbering.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcStat(pid=pid, ppid=int(fields[1]),
                    cpu_seconds=(utime + stime + cutime + cstime) / _TICKS,
                    rss_bytes=int(fields[21]) * _PAGE, start_ticks=int(fields[19]))


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (all its threads' children)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def server_pid() -> int:
    """The root of the server's process tree: the gunicorn master when there is one."""
    value = os.environ.get(SERVER_PID_ENV, "")
    if value.isdigit() and read_stat(int(value)) is not None:
        return int(value)
    return os.getpid()


@dataclass(frozen=True, slots=True)
class ServerUsage:
    cpu_seconds: float
    rss_bytes: int
    processes: int
    start_time: float | None


def server_usage(root: int | None = None) -> ServerUsage:
    """Sum CPU and resident memory over the root process and its live children."""
    root = server_pid() if root is None else root
    stats = [s for s in (read_stat(pid) for pid in children_of(root)) if s is not None]
    master = read_stat(root)  # after the children: a child reaped meanwhile shows here
    if master is not None:
        stats.append(master)
    return ServerUsage(cpu_seconds=sum(s.cpu_seconds for s in stats),
                       rss_bytes=sum(s.rss_bytes for s in stats),
                       processes=len(stats),
                       start_time=_start_time(master) if master else None)


def _start_time(stat: ProcStat) -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + stat.start_ticks / _TICKS
    except OSError:
        return None
    return None


def available_cores() -> float:
    """CPUs this server may use: the cgroup v2 quota when set, else the affinity mask."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        return float(len(os.sched_getaffinity(0)))
    except AttributeError:
        return float(os.cpu_count() or 1)


class HighWaterMark:
    """A float that only grows, shared by every worker through a small locked file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def raise_to(self, value: float) -> float:
        """Store max(stored, value) and return it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 8, 0)
            stored = struct.unpack("d", raw)[0] if len(raw) == 8 else 0.0
            if value > stored:
                os.pwrite(fd, struct.pack("d", value), 0)
                return value
            return stored
        finally:
            os.close(fd)


class ServerProcessCollector(Collector):
    """Exports process_cpu_seconds_total, process_resident_memory_bytes,
    process_start_time_seconds, thaiyyal_server_processes and thaiyyal_cpu_cores for the
    whole server."""

    def __init__(self, state_dir: str | None = None) -> None:
        self.mark = HighWaterMark(os.path.join(state_dir, "server_cpu.hwm")) if state_dir else None

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        usage = server_usage()
        cpu = self.mark.raise_to(usage.cpu_seconds) if self.mark else usage.cpu_seconds
        yield CounterMetricFamily(
            "process_cpu_seconds", "Total user and system CPU time of the whole server "
            "(gunicorn master and all workers, including exited workers), in seconds.",
            value=cpu)
        yield GaugeMetricFamily("process_resident_memory_bytes",
                                "Resident memory of the whole server, in bytes.",
                                value=usage.rss_bytes)
        if usage.start_time is not None:
            yield GaugeMetricFamily("process_start_time_seconds",
                                    "Start time of the server's root process, Unix seconds.",
                                    value=usage.start_time)
        yield GaugeMetricFamily("thaiyyal_server_processes",
                                "Processes in the server (master plus live workers).",
                                value=usage.processes)
        yield GaugeMetricFamily("thaiyyal_cpu_cores",
                                "CPU cores the server may use (cgroup quota or affinity).",
                                value=available_cores())
