"""A worker the master told to stop before it had its own signal handlers stops instead
of serving on (workflows/gunicorn_hooks.py::stopped_before_listening). The signal went to
the master's handler inherited through the fork, which only queues it: the state is
gunicorn's own Arbiter, as a forked worker holds it."""

from __future__ import annotations

import queue
import signal
from types import SimpleNamespace

import pytest
from gunicorn.arbiter import Arbiter

from workflows.gunicorn_hooks import keep_arbiter, stopped_before_listening


def _worker_forked_from(queued: list[int]) -> SimpleNamespace:
    arbiter = Arbiter.__new__(Arbiter)  # its state without starting a server
    arbiter.SIG_QUEUE = queue.SimpleQueue()
    for sig in queued:
        arbiter.signal(sig, None)  # the handler the worker inherited
    worker = SimpleNamespace(alive=True)
    keep_arbiter(arbiter, worker)
    return worker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_a_stop_sent_before_the_workers_handlers_stops_it(sig):
    worker = _worker_forked_from([signal.SIGHUP, sig])
    assert stopped_before_listening(worker) is True
    assert worker.alive is False


def test_other_signals_or_none_leave_it_serving():
    for queued in ([], [signal.SIGHUP], [signal.SIGTTIN, signal.SIGWINCH]):
        worker = _worker_forked_from(queued)
        assert stopped_before_listening(worker) is False
        assert worker.alive is True
    assert stopped_before_listening(SimpleNamespace(alive=True)) is False  # no post_fork
