"""`thaiyyal serve` waits for the database (issue 9, item 6): a bounded wait, said in
its log, set by --db-wait or THAIYYAL_DB_WAIT_SECONDS, instead of exiting at once."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.faultproxy import postgres_url
from tests.platform.serving import ROOT, THAIYYAL, serve, server_environment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_serve_waits_for_the_database_then_serves(tmp_path, db_proxy):
    env = server_environment(db_proxy.url_for(postgres_url()), tmp_path / "var")
    db_proxy.cut("refuse")
    threading.Timer(4, db_proxy.restore).start()

    with serve(env, tmp_path / "server.log", "--workers", "1", "--db-wait", "30") as server:
        assert server.request("GET", "/readyz")[0] == 200
        log = server.output()
    assert "waiting for the database at 127.0.0.1:" in log
    assert "answered after" in log


def test_serve_gives_up_after_its_wait_and_says_how_to_wait_longer(tmp_path, db_proxy):
    env = server_environment(db_proxy.url_for(postgres_url()), tmp_path / "var",
                             THAIYYAL_DB_WAIT_SECONDS="2")
    db_proxy.cut("hang")
    start = time.monotonic()

    done = subprocess.run([str(THAIYYAL), "serve", "--workers", "1", "--bind",
                           "127.0.0.1:0"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)

    assert done.returncode == 2, done.stderr[-2000:]
    assert time.monotonic() - start < 15
    assert "waiting for the database" in done.stderr
    assert "did not answer within 2s (--db-wait / THAIYYAL_DB_WAIT_SECONDS)" in done.stderr
