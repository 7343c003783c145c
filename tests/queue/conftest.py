"""Queue-mode fixtures: the machine's RabbitMQ (the broker CI runs too), a queue of the
test's own, and what is on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from tests.api.conftest import (  # noqa: F401 - the API tests' fixtures
    _fresh_throttle_counts,
    anon,
    api,
    greeting,
    other_user,
    staff_user,
    user,
)


def broker_url() -> str:
    """The test broker; unreachable fails the test in CI and skips it elsewhere."""
    from django.conf import settings

    url = settings.TEST_BROKER_URL
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - whatever kombu raises for "not there"
        reason = f"RabbitMQ is unreachable at {url}: {exc}"
        if os.environ.get("CI") or os.environ.get("THAIYYAL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


class Queue:
    """A broker queue, read directly (not through Celery)."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name

    def depth(self) -> int:
        with Connection(self.url) as connection, connection.channel() as channel:
            try:
                return channel.queue_declare(self.name, passive=True).message_count
            except Exception:  # noqa: BLE001 - not declared yet: empty
                return 0

    def take(self) -> tuple[str, str, list[Any], bytes]:
        """The next message, taken off the broker as a worker would (acknowledged): its
        task name, task id, arguments and raw body."""
        import json

        with Connection(self.url) as connection, connection.channel() as channel:
            message = channel.basic_get(self.name)
            assert message is not None, f"no message on {self.name}"
            channel.basic_ack(message.delivery_tag)
        headers = message.headers or message.properties.get("application_headers", {})
        body = message.body if isinstance(message.body, bytes) else message.body.encode()
        args, _kwargs, _embed = json.loads(body)  # Celery's message protocol 2
        return headers["task"], headers["id"], args, body

    def run_next(self) -> str:
        """Take the next message and run its task here, as a `thaiyyal worker` would
        (the task function itself, in this process). The run's id."""
        import workflows.tasks  # noqa: F401 - registers the tasks
        from thaiyyal.celeryconf import app

        name, task_id, args, _body = self.take()
        app.tasks[name].apply(args=args, task_id=task_id).get()
        return task_id

    def purge(self) -> None:
        with Connection(self.url) as connection, connection.channel() as channel:
            try:
                channel.queue_purge(self.name)
            except Exception:  # noqa: BLE001 - not declared yet
                pass

    def delete(self) -> None:
        """The queue and its exchange: the broker is the machine's, shared."""
        try:
            with Connection(self.url, connect_timeout=2) as connection, \
                    connection.channel() as channel:
                channel.queue_delete(self.name)
                channel.exchange_delete(self.name)  # Celery declares one per queue
        except Exception:  # noqa: BLE001 - not declared, or no broker: nothing to delete
            pass


@pytest.fixture
def queue(settings: Any) -> Iterator[Queue]:
    """Queue mode on (THAIYYAL_BROKER_URL set) with this process's queue, empty."""
    url = broker_url()
    settings.THAIYYAL_BROKER_URL = url
    q = Queue(url, settings.CELERY_TASK_DEFAULT_QUEUE)
    q.purge()
    yield q
    # Purged, not deleted: the publisher remembers having declared it (kombu), and would
    # send the next test's messages to no queue.
    q.purge()


@pytest.fixture(scope="session", autouse=True)
def _delete_test_queue() -> Iterator[None]:
    yield
    from django.conf import settings

    Queue(settings.TEST_BROKER_URL, settings.CELERY_TASK_DEFAULT_QUEUE).delete()
