"""A worker's /readyz says whether it can take runs: 503 while its broker connection is
lost (a real cut: a TCP proxy between the worker and the machine's RabbitMQ,
tests/faultproxy.py), 200 again once Celery has reconnected, and it then runs what is
queued. /healthz (liveness) stays 200 throughout: restarting a worker does not bring a
broker back."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.faultproxy import FaultProxy, postgres_url
from tests.httpserver import LoopbackHTTPServer
from tests.observability import liveserver
from tests.queue.conftest import Queue, broker_url
from tests.queue.site import Site, site_environment
from tests.queue.test_queue_site import fetch, wait_status

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    target = urllib.parse.urlsplit(broker_url())
    proxy = FaultProxy((target.hostname or "127.0.0.1", target.port or 5672)).start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, proxy: FaultProxy) -> Iterator[Site]:
    postgres_url()
    broker = broker_url()
    env = site_environment(broker)
    site = Site(tmp_path_factory.mktemp("readiness"), env, Queue(broker, env["THAIYYAL_QUEUE"]))
    through_proxy = broker.replace(f":{urllib.parse.urlsplit(broker).port}",
                                   f":{proxy.port}")
    try:
        site.serve()  # the web tier reaches the broker directly
        site.metrics_port = liveserver.free_port()  # type: ignore[attr-defined]
        site.worker("w", THAIYYAL_BROKER_URL=through_proxy,
                    THAIYYAL_WORKER_METRICS_BIND=f"127.0.0.1:{site.metrics_port}")
        yield site
    finally:
        site.stop()
        site.queue.delete()


def status(site: Site, path: str) -> int:
    url = f"http://127.0.0.1:{site.metrics_port}{path}"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_readyz_follows_the_workers_broker_connection(
        site: Site, proxy: FaultProxy, http_server: LoopbackHTTPServer) -> None:
    assert (status(site, "/healthz"), status(site, "/readyz")) == (200, 200)

    proxy.cut("refuse")
    liveserver.wait_for(lambda: status(site, "/readyz") == 503, 20, "/readyz to say 503")
    assert status(site, "/healthz") == 200

    proxy.restore()
    liveserver.wait_for(lambda: status(site, "/readyz") == 200, 60, "/readyz to say 200")
    a = site.servers[0]
    code, body, _ = a.request("POST", "/api/v1/workflow/execute",
                              fetch(http_server.url("/json")), headers={"Prefer":
                                                                        "respond-async"})
    assert code == 202, body
    assert wait_status(a, json.loads(body)["id"], {"succeeded"})["status"] == "succeeded"
