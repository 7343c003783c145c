"""The guarded client: requests, responses, redirects followed by hand, each hop checked
again.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin

import urllib3
import urllib3.exceptions

from engine.egress.errors import EgressError, EgressRefused, EgressTimeout, Resolver
from engine.egress.policy import EgressPolicy, default_policy
from engine.egress.transport import (
    _ALWAYS_SENSITIVE,
    _REDIRECTS,
    CallAbort,
    Connector,
    _ConnectFailed,
    _current,
    _pools,
    _read_response,
    _request_headers,
    _root_cause,
    _watchdog,
    connect,
)
from engine.egress.urls import Target, check_url, resolve
from engine.errors import LimitExceeded
from engine.limits import Limits

# ---------------------------------------------------------------------------------------
# Requests and responses


@dataclass(frozen=True, slots=True)
class Request:
    """What to send. `sensitive_headers` (lower case) are dropped, with Authorization,
    Cookie and Proxy-Authorization, when a redirect leaves the original origin."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    sensitive_headers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response. `headers` has lower-case names; repeated headers are joined
    with ", ". `url` is the final URL after redirects; `elapsed` is in seconds."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    url: str
    elapsed: float
    redirects: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    @property
    def nbytes(self) -> int:
        """Roughly what the response occupies in a cache."""
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers.items()) + 64

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")



@dataclass(frozen=True, slots=True)
class EgressClient:
    """The guarded HTTP client. `resolver`, `connector` and `ssl_context` are injection
    points (tests replace the connector with a recorder that fails if it is ever reached)."""

    policy: EgressPolicy = field(default_factory=EgressPolicy)
    resolver: Resolver = resolve
    connector: Connector = connect
    ssl_context: ssl.SSLContext | None = None

    def bounded_by(self, limits: Limits) -> EgressClient:
        return replace(self, policy=self.policy.bounded_by(limits))

    def fetch(self, request: Request, *, deadline: float | None = None,
              cancel: Callable[[Callable[[], None]], Callable[[], None]] | None = None,
              before_send: Callable[[str], None] | None = None) -> Response:
        """Send `request`, following redirects (each hop checked again), and return the
        final response whatever its status.

        `deadline` (time.monotonic()) bounds the whole call with the policy's total
        timeout; `cancel` registers an abort callback and returns its unregister function
        (pass `run.on_cancel`); `before_send(url)` runs before each request goes out
        (count calls there; raising stops the call).
        """
        started = time.monotonic()
        policy = self.policy
        end = started + policy.total_timeout
        if deadline is not None:
            end = min(end, deadline)
        method, url = request.method.upper(), request.url
        headers, body = dict(request.headers), request.body
        origin: tuple[str, str, int] | None = None
        for hop in range(policy.max_redirects + 1):
            left = end - time.monotonic()
            if left <= 0:
                raise EgressTimeout(f"{method} {url} timed out before it was sent")
            try:
                target = check_url(url, policy, self.resolver,
                                   min(policy.connect_timeout, left))
            except EgressRefused as exc:
                if hop:  # say where the hop came from: the URL the user wrote looked fine
                    raise EgressRefused(f"{exc} (redirect {hop} from {request.url})") from None
                raise
            if origin is None:
                origin = target.origin
            elif target.origin != origin:
                headers = {k: v for k, v in headers.items() if k.lower() not in
                           _ALWAYS_SENSITIVE | request.sensitive_headers}
            if before_send is not None:
                before_send(url)
            status, reason, got, payload = self._exchange(target, method, headers, body, end,
                                                          cancel)
            location = got.get("location")
            if status not in _REDIRECTS or not location:
                return Response(status, reason, got, payload, url, time.monotonic() - started,
                                hop)
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                if method != "HEAD":
                    method, body = "GET", None
                headers = {k: v for k, v in headers.items()
                           if k.lower() not in ("content-type", "content-length")}
        raise LimitExceeded("max_http_redirects", policy.max_redirects,
                            detail=f"{request.url} redirects more than "
                                   f"{policy.max_redirects} times")

    def _exchange(self, target: Target, method: str, headers: Mapping[str, str],
                  body: bytes | None, end: float,
                  cancel: Callable[[Callable[[], None]], Callable[[], None]] | None,
                  ) -> tuple[int, str, dict[str, str], bytes]:
        abort = CallAbort()
        unwatch = _watchdog.watch(end, lambda: abort.abort("timeout"))
        unregister = cancel(lambda: abort.abort("cancelled")) if cancel else None
        try:
            return self._pooled_exchange(target, method, headers, body, end, abort)
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            raise _failure(abort, method, target, end, _root_cause(exc)) from None
        finally:
            unwatch()
            if unregister is not None:
                unregister()

    def _pooled_exchange(self, target: Target, method: str, headers: Mapping[str, str],
                         body: bytes | None, end: float,
                         abort: CallAbort) -> tuple[int, str, dict[str, str], bytes]:
        """One request on a kept-alive connection to one of the target's checked
        addresses (a new one when none is idle), its body read by our own reader."""
        last: BaseException | None = None
        for address in target.addresses:  # every one was checked; try them in order
            left = end - time.monotonic()
            if left <= 0 or abort.reason is not None:
                break
            pool = _pools.get(target, address, self.ssl_context, self.connector)
            _current.call = (self.connector, abort, min(self.policy.connect_timeout, left))
            try:
                response = pool.urlopen(
                    method, target.request_target, body=body,
                    headers=_request_headers(target, headers), retries=False, redirect=False,
                    assert_same_host=False, preload_content=False, decode_content=False,
                    release_conn=False, timeout=urllib3.Timeout(
                        connect=min(self.policy.connect_timeout, left), read=max(0.001, left)))
            except ValueError as exc:  # header or request-line injection attempts land here
                raise EgressError(f"{method} {target.url}: invalid request: {exc}") from None
            except urllib3.exceptions.NewConnectionError as exc:
                last = exc
                continue
            except (urllib3.exceptions.ProtocolError, OSError) as exc:
                cause = _root_cause(exc)
                if isinstance(cause, ConnectionRefusedError | _ConnectFailed):
                    last = cause
                    continue
                raise
            finally:
                _current.call = None
            return _read_response(response, target, method, abort,
                                  self.policy.max_response_bytes)
        if isinstance(last, _ConnectFailed):
            last = last.__cause__ or last
        if last is not None:
            raise last
        raise ConnectionAbortedError(abort.reason or "timeout")



def _failure(abort: CallAbort, method: str, target: Target, end: float,
             exc: BaseException) -> EgressError:
    where = f"{method} {target.url}"
    timed_out = isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)
    if abort.reason == "timeout" or timed_out or time.monotonic() >= end:
        return EgressTimeout(f"{where} timed out")
    if abort.reason == "cancelled":
        return EgressError(f"{where} was cancelled")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError | urllib3.exceptions.SSLError):
        return EgressError(f"{where}: TLS failed: {exc}")
    if isinstance(exc, ConnectionRefusedError):
        return EgressError(f"{where}: connection refused")
    if isinstance(exc, http.client.IncompleteRead | http.client.RemoteDisconnected
                  | urllib3.exceptions.ProtocolError):
        return EgressError(f"{where}: connection closed before the response was complete")
    return EgressError(f"{where}: {exc.__class__.__name__}: {exc}")


def fetch(request: Request, policy: EgressPolicy | None = None, *,
          deadline: float | None = None,
          cancel: Callable[[Callable[[], None]], Callable[[], None]] | None = None,
          before_send: Callable[[str], None] | None = None) -> Response:
    """`EgressClient(policy).fetch(...)` with the default resolver and connector;
    without a policy, the one from the environment (`default_policy()`)."""
    client = EgressClient(policy or default_policy())
    return client.fetch(request, deadline=deadline, cancel=cancel, before_send=before_send)
