"""Gunicorn configuration for Thaiyyal.

`thaiyyal serve` passes --bind and --workers; everything else is here, so running
`gunicorn -c deploy/gunicorn.conf.py thaiyyal.wsgi:application` directly (a container's
command) behaves the same. Timeouts follow THAIYYAL_MAX_EXECUTION_TIME.
"""

import os

from thaiyyal import serving, sync_worker
from workflows import gunicorn_hooks

gunicorn_hooks.prepare_environment()

bind = os.environ.get("THAIYYAL_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("WEB_CONCURRENCY") or serving.default_workers())
# Sync workers: a run is CPU work in the request's own process, one at a time; parallel
# branches inside a run use the engine's own thread pool. This one bounds the time a client
# may take to send its headers (THAIYYAL_HEADER_TIMEOUT), which gunicorn's own does not.
# Probes do not go through the workers at all: the master answers them on
# THAIYYAL_PROBE_BIND (see when_ready below).
worker_class = "thaiyyal.sync_worker.HeaderDeadlineWorker"
sync_worker.header_timeout()  # a malformed THAIYYAL_HEADER_TIMEOUT stops the server here

_limit = serving.max_execution_time()
timeout = serving.worker_timeout(_limit)
graceful_timeout = serving.graceful_timeout(_limit)
keepalive = 5

# Recycle workers now and then (jittered, so they don't all restart at once): bounds the
# damage of any slow leak in a long-lived process. Not too often: a restart costs ~0.5 s
# of CPU (importing Django and the app), and at 1000 requests five workers serving 600
# req/s restarted every ~8 s, which cost about a tenth of the machine and showed up as
# p99 spikes (bench-api). The leak checks show no growth to guard against meanwhile.
max_requests = int(os.environ.get("THAIYYAL_MAX_REQUESTS", "20000"))
max_requests_jitter = max(1, max_requests // 10)
# The app (Django, the engine, the API) is loaded once in the master and forked into each
# worker: a worker starts in milliseconds instead of importing it again (~1 s of CPU each,
# which every restart after max_requests paid too), and the workers share its memory.
# The master keeps no database connection to hand down (its probe listener opens a fresh
# one per check). A code change needs a restart, not a HUP.
preload_app = True

# The heartbeat file on tmpfs: a stalled disk must not look like a hung worker.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("THAIYYAL_LOG_LEVEL", "info").lower()
# %(M)s: request duration in milliseconds
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s'
# ... with webhook secrets (part of their URL) left out of the request line
logger_class = "thaiyyal.access_log.AccessLogger"
# gunicorn's control socket (gunicornc) has one default path per user: several servers on
# a host would fight over it. Off unless a path is given.
if os.environ.get("THAIYYAL_CONTROL_SOCKET"):
    control_socket = os.environ["THAIYYAL_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# Behind a proxy, trust its X-Forwarded-* headers only from the addresses listed here.
forwarded_allow_ips = os.environ.get("THAIYYAL_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    gunicorn_hooks.on_starting(server)


def when_ready(server):
    gunicorn_hooks.freeze_before_forking(server)
    gunicorn_hooks.start_probe_listener(server)


def post_fork(server, worker):
    gunicorn_hooks.close_probe_listener_in_worker()
    gunicorn_hooks.keep_arbiter(server, worker)


def on_exit(server):
    gunicorn_hooks.stop_probe_listener()


def child_exit(server, worker):
    gunicorn_hooks.child_exit(server, worker)


def post_worker_init(worker):
    gunicorn_hooks.post_worker_init(worker)
