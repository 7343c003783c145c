"""The `thaiyyal` command.

    thaiyyal run FILE|-        execute a workflow file with the engine alone (no database)
    thaiyyal validate FILE|-   check a workflow file; print every problem with its path
    thaiyyal serve [...]       migrate, reap interrupted runs, then serve with gunicorn
    thaiyyal worker [...]      execute queued runs (Celery worker; THAIYYAL_BROKER_URL)
    thaiyyal scheduler         start the cron schedules' runs (Celery beat; one per site)
    thaiyyal manage CMD [...]  any Django management command (migrate, create_demo, ...)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import cli as engine_cli
from thaiyyal.probe_listener import parse_bind
from thaiyyal.serving import default_workers

DEFAULT_BIND = "127.0.0.1:8080"
LIMIT_FLAGS = ("max_execution_time", "max_node_executions", "max_http_calls",
               "max_loop_iterations")
#: seconds `serve` waits for the database to accept connections before migrating
DEFAULT_DB_WAIT = 60.0
GUNICORN_CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thaiyyal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="execute a workflow file with the engine alone",
                         description=engine_cli.__doc__.splitlines()[0])
    engine_cli.build_parser(run)

    validate = sub.add_parser("validate", help="check a workflow file without running it",
                              description="Check a workflow file without running it: print "
                                          "every problem with its JSON path (exit 2), or "
                                          "`valid: ...` (exit 0).")
    engine_cli.build_validate_parser(validate)

    serve = sub.add_parser("serve", help="serve the platform with gunicorn",
                           description="Migrate the database, mark runs left by dead "
                                       "workers interrupted, and start gunicorn.")
    serve.add_argument("--bind", default=DEFAULT_BIND,
                       help=f"address to listen on (default {DEFAULT_BIND})")
    serve.add_argument("--probe-bind", default=None, metavar="HOST:PORT", type=_probe_bind,
                       help="where the master answers /healthz and /readyz whatever the "
                            "workers are doing (default THAIYYAL_PROBE_BIND, else the --bind "
                            "host on port 8081; `off` for nowhere)")
    serve.add_argument("--workers", type=_positive, default=None,
                       help=f"worker processes (default WEB_CONCURRENCY, else 2 x CPUs + 1 "
                            f"= {default_workers()})")
    serve.add_argument("--no-migrate", action="store_true",
                       help="skip `migrate` (when a separate job runs migrations)")
    serve.add_argument("--db-wait", type=_seconds, default=None, metavar="SECONDS",
                       help="how long to wait for the database before migrating (default "
                            f"THAIYYAL_DB_WAIT_SECONDS, else {DEFAULT_DB_WAIT:g}); 0: no wait")
    engine_cli.add_limit_arguments(serve)

    worker = sub.add_parser("worker", help="execute queued runs (queue mode)",
                            description="Start a Celery worker that executes queued runs "
                                        "(Prefer: respond-async, async workflows, "
                                        "webhooks, schedules) from THAIYYAL_BROKER_URL.")
    worker.add_argument("--concurrency", type=_positive, default=None,
                        help="runs at once, one process each (default "
                             "THAIYYAL_WORKER_CONCURRENCY, else the number of CPUs)")
    worker.add_argument("--name", default=None,
                        help="the worker's node name (default thaiyyal-PID@HOST)")
    engine_cli.add_limit_arguments(worker)

    sub.add_parser("scheduler", help="start scheduled runs (queue mode; run exactly one)",
                   description="Start Celery beat with the schedules edited in the admin "
                               "(django-celery-beat). Run one per site.")

    # Parsed by Django, not here (see main); listed for --help.
    sub.add_parser("manage", help="run a Django management command (thaiyyal manage help)")
    return parser


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _probe_bind(text: str) -> str:
    if text.strip().lower() != "off":
        try:
            parse_bind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["manage"]:
        return manage(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return engine_cli.run(args)
    if args.command == "validate":
        return engine_cli.validate(args)
    if args.command == "worker":
        return worker(args)
    if args.command == "scheduler":
        return scheduler()
    return serve(args)


def manage(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "thaiyyal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["thaiyyal manage", *argv])
    except ImproperlyConfigured as exc:  # a setting to fix, said plainly: no traceback
        print(f"thaiyyal manage: {exc}", file=sys.stderr)
        return 2
    return 0


def _export_limits(args: argparse.Namespace) -> None:
    # The limits reach the processes this one becomes through the same environment
    # variables the settings read.
    for name in LIMIT_FLAGS:
        value = getattr(args, name)
        if value is not None:
            os.environ[f"THAIYYAL_{name.upper()}"] = str(value)


def _exec_celery(*arguments: str) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "thaiyyal.settings")
    if not os.environ.get("THAIYYAL_BROKER_URL"):
        print("thaiyyal: queue mode needs a broker: set THAIYYAL_BROKER_URL (e.g. "
              "amqp://guest:guest@127.0.0.1:5672//)", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "celery", "--app", "thaiyyal.celeryconf", *arguments]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return 0  # not reached


def worker(args: argparse.Namespace) -> int:
    """Exec a Celery worker: prefork, one run per process at a time, no prefetching
    beyond it (settings). No task events: the queue metrics are written by the pool
    processes themselves (workflows/queue_metrics.py)."""
    _export_limits(args)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Its processes' metrics are merged from files, as gunicorn's workers' are.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="thaiyyal-worker-")
    if not os.environ.get("THAIYYAL_PPROF_DIR"):
        # where each of its processes' profiling agents listens (THAIYYAL_PPROF=1)
        import tempfile

        os.environ["THAIYYAL_PPROF_DIR"] = tempfile.mkdtemp(prefix="thaiyyal-worker-pprof-")
    concurrency = args.concurrency or int(os.environ.get("THAIYYAL_WORKER_CONCURRENCY")
                                          or os.cpu_count() or 1)
    name = args.name or f"thaiyyal-{os.getpid()}@%h"
    return _exec_celery("worker", "--pool", "prefork", "--concurrency", str(concurrency),
                        "--hostname", name, "--loglevel", "INFO", "--without-gossip",
                        "--without-mingle")


def scheduler() -> int:
    return _exec_celery("beat", "--loglevel", "INFO")


def serve(args: argparse.Namespace) -> int:
    _export_limits(args)
    if args.probe_bind is not None:
        os.environ["THAIYYAL_PROBE_BIND"] = args.probe_bind
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "thaiyyal.settings")
    db_wait = args.db_wait
    if db_wait is None:
        db_wait = _seconds(os.environ.get("THAIYYAL_DB_WAIT_SECONDS") or str(DEFAULT_DB_WAIT))
    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - reads the settings: a bad one stops us here
    except Exception as exc:  # noqa: BLE001 - said plainly, as prepare_for_serving does
        print(f"thaiyyal serve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    # The gunicorn master prepares the database (workflows/gunicorn_hooks.py), once it has
    # loaded the app to fork into its workers: Django is imported once, not twice.
    os.environ[PREPARE_ENV] = f"{'reap' if args.no_migrate else 'migrate'}:{db_wait:g}"
    workers = args.workers or int(os.environ.get("WEB_CONCURRENCY") or default_workers())
    command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
               "--bind", args.bind, "--workers", str(workers), "thaiyyal.wsgi:application"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return 0  # not reached: exec replaced this process


#: what the gunicorn master does before it forks its workers, set by `serve`:
#: "migrate:<seconds to wait for the database>" or "reap:<seconds>"
PREPARE_ENV = "THAIYYAL_SERVE_PREPARE"


def prepare_for_serving() -> None:
    """In the gunicorn master `serve` started (a no-op for a plain `gunicorn -c ...`):
    prepare_database as `serve` was asked; on failure, say why and exit 2."""
    task = os.environ.pop(PREPARE_ENV, "")
    if not task:
        return
    what, _, wait = task.partition(":")
    try:
        prepare_database(migrate=what == "migrate", wait=float(wait or 0))
    except Exception as exc:  # noqa: BLE001 - any setup failure ends here, said plainly
        print(f"thaiyyal serve: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def prepare_database(migrate: bool, wait: float = 0.0) -> None:
    """Migrate (once the database answers, waiting up to `wait` seconds) and reap in this
    process (the gunicorn master), then close every connection (and pool) so the workers
    it forks inherit no database socket. Without `migrate` the server starts at once,
    database or not (/readyz says 503 until it is back)."""
    import django
    import psycopg
    from django.core.management import call_command
    from django.db import DatabaseError, connections

    django.setup()
    from thaiyyal.health import ping_database

    try:
        if migrate:
            wait_for_database(wait)
            call_command("migrate", interactive=False, verbosity=1)
        try:
            ping_database()  # fails fast (1 s) rather than after the pool's own timeout
            call_command("reap_runs")
        except (DatabaseError, psycopg.Error) as exc:
            # Not fatal: the server starts (and /readyz says 503) until the database is
            # back; each worker reaps again as it boots.
            print(f"thaiyyal serve: could not reap interrupted runs: {exc}", file=sys.stderr)
    finally:
        for connection in connections.all():
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()


def wait_for_database(seconds: float) -> None:
    """Return once the database answers; raise its last error after `seconds`. Says what
    it waits for, once, and again every 10 s."""
    import time

    import psycopg
    from django.db import DatabaseError, connection

    from thaiyyal.health import ping_database

    where = _database_name(connection.settings_dict)
    start = time.monotonic()
    said = -1.0
    while True:
        try:
            ping_database()
        except (DatabaseError, psycopg.Error) as exc:
            waited = time.monotonic() - start
            if waited >= seconds:
                raise DatabaseError(f"the database at {where} did not answer within "
                                    f"{seconds:g}s (--db-wait / THAIYYAL_DB_WAIT_SECONDS): "
                                    f"{str(exc).strip()}") from exc
            if said < 0 or waited - said >= 10:
                print(f"thaiyyal serve: waiting for the database at {where} "
                      f"({waited:.0f}s of {seconds:g}s): {str(exc).strip()[:200]}",
                      file=sys.stderr, flush=True)
                said = waited
            connection.close()
            time.sleep(min(1.0, max(0.0, seconds - waited)))
            continue
        if said >= 0:
            print(f"thaiyyal serve: the database at {where} answered after "
                  f"{time.monotonic() - start:.1f}s", file=sys.stderr, flush=True)
        return


def _database_name(db: dict[str, object]) -> str:
    if "sqlite" in str(db.get("ENGINE")):
        return str(db.get("NAME"))
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}"


if __name__ == "__main__":
    raise SystemExit(main())
