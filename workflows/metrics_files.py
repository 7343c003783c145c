"""Housekeeping of prometheus_client's multiprocess files.

Each worker writes `counter_<pid>.db`, `histogram_<pid>.db`, ... and a scrape merges every
file. Workers are recycled (gunicorn `max_requests`), and a dead worker's counters must
keep counting, so its files stay, and the scrape gets slower with every restart. When a
worker exits, its counter, histogram and summary files are folded into one
`<type>_archive.db` per type. A lock makes the fold atomic for scrapes: /metrics reads
under a shared lock, the fold takes it exclusively, so no scrape sees a worker twice or
not at all. Gauges are not folded: live gauges of a dead worker are deleted
(mark_process_dead) and the other modes are per-process by nature.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

FOLDED_TYPES = ("counter", "histogram", "summary")
LOCK_NAME = "scrape.lock"  # not *.db: the collector ignores it


@contextmanager
def _locked(directory: str, mode: int) -> Iterator[None]:
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def scrape_lock(directory: str) -> AbstractContextManager[None]:
    """Held (shared) while a scrape reads the files."""
    return _locked(directory, fcntl.LOCK_SH)


def fold_dead_worker(directory: str, pid: int) -> list[str]:
    """Fold a dead worker's counter/histogram/summary files into the archives. Returns the
    files folded."""
    folded = []
    with _locked(directory, fcntl.LOCK_EX):
        for kind in FOLDED_TYPES:
            dead = os.path.join(directory, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = os.path.join(directory, f"{kind}_archive.db")
            _write_merged([f for f in (archive, dead) if os.path.exists(f)], archive)
            os.remove(dead)
            folded.append(dead)
    return folded


def _write_merged(sources: list[str], target: str) -> None:
    staging = target + ".new"  # invisible to scrapes until renamed
    if os.path.exists(staging):
        os.remove(staging)
    merged = MmapedDict(staging)
    try:
        # accumulate=False keeps histogram buckets as stored (per bucket, not cumulative).
        for metric in MultiProcessCollector.merge(sources, accumulate=False):
            for sample in metric.samples:
                key = mmap_key(metric.name, sample.name, list(sample.labels),
                               list(sample.labels.values()), metric.documentation)
                merged.write_value(key, sample.value, 0.0)
    finally:
        merged.close()
    os.replace(staging, target)
