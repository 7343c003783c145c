"""POSTing a queued run's answer to its `callback_url` when it ends.

The body is the answer a synchronous request would have got (same status, same JSON),
sent through the engine's egress guard (the operator's allowlist applies: a callback
cannot reach what a workflow's http node could not). The receiver checks the signature
header, `X-Thaiyyal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` of
`<t>.<body>` with THAIYYAL_CALLBACK_SECRET (Stripe's scheme: the timestamp lets it
refuse replays). A failed delivery (no answer, 408, 429, 5xx) is retried
THAIYYAL_CALLBACK_ATTEMPTS times in all, backing off, as separate queue tasks (a worker
never sleeps on one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from django.conf import settings
from django.utils.crypto import salted_hmac

from engine.egress import EgressError, Request, default_policy, fetch
from workflows import services

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Thaiyyal-Signature"
#: seconds a delivery may take (connect, send, answer)
TIMEOUT_SECONDS = 10.0
#: statuses worth trying again
RETRIED = frozenset({408, 425, 429, 500, 502, 503, 504})


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


def deliver(run_id: str, url: str, status: int, body: bytes) -> bool | None:
    """One attempt. True: delivered; False: refused for good (another 4xx, a blocked
    address); None: worth trying again."""
    headers = {"Content-Type": "application/json", "X-Thaiyyal-Run-Id": run_id,
               "X-Thaiyyal-Status": str(status),
               SIGNATURE_HEADER: signature(body, int(time.time()))}
    policy = services.engine_services().get("egress_policy") or default_policy()
    try:
        response = fetch(Request("POST", url, headers, body), policy,
                         deadline=time.monotonic() + TIMEOUT_SECONDS)
    except EgressError as exc:
        log.warning("run %s: callback to %s failed: %s", run_id, url, exc)
        return None if getattr(exc, "retryable", True) else False
    if 200 <= response.status < 300:
        return True
    log.warning("run %s: callback to %s answered %s", run_id, url, response.status)
    return None if response.status in RETRIED else False


def backoff(attempt: int) -> float:
    """Seconds before attempt number `attempt + 1` (1, 2, 4, ... at most 60)."""
    return float(min(2 ** (attempt - 1), 60))
