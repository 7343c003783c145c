"""POSTing a queued run's answer to its `callback_url` when it ends.

The body is the answer a synchronous request would have got (same status, same JSON),
sent through the engine's egress guard (the operator's allowlist applies: a callback
cannot reach what a workflow's http node could not). The receiver checks the signature
header, `X-Thaiyyal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` of
`<t>.<body>` with THAIYYAL_CALLBACK_SECRET (Stripe's scheme: the timestamp lets it
refuse replays). A failed delivery (no answer, 408, 425, 429, any 5xx) is retried
THAIYYAL_CALLBACK_ATTEMPTS times in all, backing off, as separate queue tasks (a worker
never sleeps on one). Every end of a queued run leads here through run_ended, once; each
attempt's outcome is kept on the run (callback_state, callback_attempts, callback_error,
callback_at) and counted (workflow_callback_deliveries_total{outcome}).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.crypto import salted_hmac

from engine.egress import EgressError, Request, default_policy, fetch
from workflows import services
from workflows.models import CallbackState, Run, RunStatus
from workflows.queue_metrics import CALLBACK_DELIVERIES

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Thaiyyal-Signature"
#: seconds a delivery may take (connect, send, answer)
TIMEOUT_SECONDS = 10.0
#: the 4xx statuses worth trying again (every 5xx is too: see retried)
RETRIED_4XX = frozenset({408, 425, 429})
#: the task that makes one delivery attempt (workflows/tasks.py)
DELIVER_TASK = "thaiyyal.deliver_callback"
#: the states a run with a callback has ended in
ENDED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.INTERRUPTED,
                   RunStatus.CANCELLED})


def retried(status: int) -> bool:
    """Whether an answer with HTTP `status` is worth another attempt: 408, 425, 429 and
    every 5xx (a receiver mid-deploy answers 501 or 505 as readily as 503)."""
    return status in RETRIED_4XX or 500 <= status <= 599


@dataclass(frozen=True)
class Attempt:
    """One delivery's outcome: `delivered` True, False (refused for good: not retried)
    or None (worth trying again); `detail` says why it failed ("" when delivered)."""

    delivered: bool | None
    detail: str = ""


def secret() -> bytes:
    """THAIYYAL_CALLBACK_SECRET, or one derived from SECRET_KEY (set it to share it)."""
    configured = settings.THAIYYAL_CALLBACK_SECRET
    if configured:
        return configured.encode()
    return salted_hmac("thaiyyal.callbacks", "signing").hexdigest().encode()


def signature(body: bytes, timestamp: int, key: bytes | None = None) -> str:
    """The header's value for `body` sent at `timestamp`."""
    mac = hmac.new(key or secret(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def deliver(run_id: str, url: str, status: int, body: bytes) -> Attempt:
    """One attempt (see Attempt): refused for good on another 4xx or an address the
    egress policy blocks; worth trying again on no answer, 408, 425, 429 or 5xx."""
    headers = {"Content-Type": "application/json", "X-Thaiyyal-Run-Id": run_id,
               "X-Thaiyyal-Status": str(status),
               SIGNATURE_HEADER: signature(body, int(time.time()))}
    policy = services.engine_services().get("egress_policy") or default_policy()
    try:
        response = fetch(Request("POST", url, headers, body), policy,
                         deadline=time.monotonic() + TIMEOUT_SECONDS)
    except EgressError as exc:
        log.warning("run %s: callback to %s failed: %s", run_id, url, exc)
        return Attempt(None if getattr(exc, "retryable", True) else False, str(exc))
    if 200 <= response.status < 300:
        return Attempt(True)
    log.warning("run %s: callback to %s answered %s", run_id, url, response.status)
    return Attempt(None if retried(response.status) else False,
                   f"the receiver answered {response.status}")


def record(run_id: str, number: int, attempt: Attempt, *, last: bool) -> str:
    """Keep attempt `number`'s outcome on the run and count it; `last`: no attempt
    follows (so a retryable failure means giving up). Returns the state recorded."""
    if attempt.delivered:
        state, outcome = CallbackState.DELIVERED, "delivered"
    elif attempt.delivered is False:
        state, outcome = CallbackState.REFUSED, "refused"
    elif last:
        state, outcome = CallbackState.GAVE_UP, "gave_up"
    else:
        state, outcome = CallbackState.PENDING, "retried"
    Run.objects.filter(pk=run_id).update(callback_state=state, callback_attempts=number,
                                         callback_error=attempt.detail[:500],
                                         callback_at=timezone.now())
    CALLBACK_DELIVERIES.labels(outcome).inc()
    return state


def run_ended(run_id: Any, answer: Any = None) -> bool:
    """The one place a queued run's end leads to its callback, whatever ended it (a
    worker executing it, a cancel while queued, the reaper, a claim-time refusal, a
    crash, or a redelivered message finding it ended with no callback sent). Sends it
    once: the run's callback_state goes from "" to `pending` in one conditional UPDATE
    first. `answer`: the HttpResponse the run's request would have got, when the caller
    has it; otherwise it is rebuilt from the record (answer_of). True when a delivery was
    queued."""
    claimed = (Run.objects.filter(pk=run_id, status__in=ENDED, callback_state="")
               .exclude(callback_url="").update(callback_state=CallbackState.PENDING))
    if not claimed:
        return False
    run = Run.objects.get(pk=run_id)
    status, body = ((answer.status_code, answer.content) if answer is not None
                    else answer_of(run))
    from thaiyyal.celeryconf import app

    try:
        if not settings.THAIYYAL_BROKER_URL:  # a server without the queue ended it
            raise RuntimeError("no broker configured here (THAIYYAL_BROKER_URL)")
        app.send_task(DELIVER_TASK, args=[str(run.pk), run.callback_url, status,
                                          body.decode()])
    except Exception as exc:  # noqa: BLE001 - whatever the broker client raises
        log.warning("run %s: its callback could not be queued: %s", run.pk, exc)
        Run.objects.filter(pk=run.pk).update(
            callback_state=CallbackState.GAVE_UP, callback_at=timezone.now(),
            callback_error=f"the queue could not be reached: {exc}"[:500])
        CALLBACK_DELIVERIES.labels("gave_up").inc()
        return False
    return True


def answer_of(run: Run) -> tuple[int, bytes]:
    """The answer of a run that ended without its request's answer at hand (cancelled
    while queued, interrupted, refused at claim, crashed, or recorded by a worker that
    died before sending): the shape of execute's answer, from the record. 200 for a
    succeeded run (with `results.final_output`), 422 otherwise (`error`, `details[0].code`
    from the run's error)."""
    body: dict[str, Any] = {"success": run.status == RunStatus.SUCCEEDED,
                            "run_id": str(run.pk), "status": run.status,
                            "execution_time_ms": run.duration_ms}
    if run.status == RunStatus.SUCCEEDED:
        body["results"] = {"final_output": run.final_output}
        return 200, json.dumps(body, cls=DjangoJSONEncoder).encode()
    error = run.error or {}
    message = error.get("message") or f"the run ended {run.status}"
    body.update(error=message, failed_node=error.get("node_id"),
                details=[{"path": "$", "message": message, "code": error.get("code")}])
    return 422, json.dumps(body, cls=DjangoJSONEncoder).encode()


def backoff(attempt: int) -> float:
    """Seconds before attempt number `attempt + 1` (1, 2, 4, ... at most 60)."""
    return float(min(2 ** (attempt - 1), 60))
