"""Nodes that call HTTP APIs: `http` (one request) and `paginator` (follow pages).

Every request goes through `engine.egress` (SSRF guard, caps, deadline) and, with
`cache: true`, through the response cache. Run services they read:

- `"egress"`: an `EgressClient` (tests inject resolvers and connectors), else
  `"egress_policy"`: an `EgressPolicy`, else the policy from the environment
  (THAIYYAL_HTTP_ALLOWED_HOSTS / _NETWORKS; by default nothing private is reachable);
- `"response_cache"`: a `ResponseCache`, else one process-wide `LocalResponseCache`;
- `"http_clients"`: uid -> `{base_url, headers, query, auth}` for `http_client_uid`;
- `"credentials"`: name -> the same shape, for `credential` (the platform resolves the
  names a workflow uses to its owner's stored credentials; the engine only applies them).
  Like a client's, a credential's headers go to its base_url's origin only, and never
  into the node's output or errors (the egress client drops them on a redirect away).

The URL is a plain string (no templating). When `url` is left out the node takes its
request from its input: a URL string, or an object `{url, method?, headers?, query?,
body?}` built upstream (by an `expression` node, or from a loop body's `item`).

The per-node `timeout` every node accepts bounds the whole call, redirects included.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from engine import bounds
from engine.cache import CACHEABLE_METHODS, ResponseCache, cache_key, default_response_cache
from engine.egress import EgressClient, EgressError, Request, Response, default_policy
from engine.errors import LimitExceeded, NodeError
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import MISSING, lookup_path

if TYPE_CHECKING:
    from engine.state import NodeContext

METHODS = ("get", "post", "put", "patch", "delete", "head")
DEFAULT_CACHE_TTL = 300.0
_ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.8"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class HTTPStatusError(NodeError):
    """The server answered with a non-2xx status (and `allow_error_status` is off)."""

    code = "http_status"

    def __init__(self, status: int, method: str, url: str, node_id: str | None) -> None:
        self.status = status
        # Thaiyyal's words first ("error status: 503"); then "status 503", so that
        # `retry_on: ["status 5"]` picks server errors
        super().__init__(f"HTTP request returned error status: {status} "
                         f"(status {status}, {method} {url})", node_id)


REQUEST_FIELDS = (
    Field("url", "string"),
    Field("method", "string", default="get", choices=METHODS, fold_case=True),
    Field("headers", "object"),
    Field("query", "object"),
    Field("body", "any"),
    Field("cache", "boolean", default=False),
    Field("cache_ttl", "duration", default=DEFAULT_CACHE_TTL),
    Field("http_client_uid", "string"),
    Field("credential", "string"),
)


def check_request_fields(config: Mapping[str, Any], report: Report) -> None:
    """Load-time checks shared by http and paginator."""
    url = config.get("url")
    if url is not None:
        if "://" in url and urlsplit(url).scheme.lower() not in ("http", "https"):
            report("url", "scheme must be http or https")
        elif "://" not in url and not (config.get("http_client_uid")
                                       or config.get("credential")):
            report("url", "must be absolute (http:// or https://) unless http_client_uid "
                          "or credential names one with a base_url")
    if config.get("http_client_uid") and config.get("credential"):
        report("credential", "use http_client_uid or credential, not both")
    for name in ("headers", "query"):
        for key, value in (config.get(name) or {}).items():
            if not _scalar(value) and not (name == "query" and isinstance(value, list)):
                report(f"{name}.{key}", "must be a string, number or boolean")
    if config.get("cache_ttl") is not None and config["cache_ttl"] <= 0:
        report("cache_ttl", "must be positive")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """A request as the node's data describes it, before a client and query are applied."""

    method: str
    url: str | None
    headers: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Any
    client_uid: str | None
    cache_ttl: float | None  # None: do not cache
    credential: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RequestSpec:
        return cls(
            method=str(config.get("method") or "get").upper(),
            url=config.get("url"),
            headers=dict(config.get("headers") or {}),
            query=dict(config.get("query") or {}),
            body=config.get("body"),
            client_uid=config.get("http_client_uid"),
            cache_ttl=(config.get("cache_ttl") or DEFAULT_CACHE_TTL)
            if config.get("cache") else None,
            credential=config.get("credential"),
        )

    def with_input(self, inputs: list[Any], node_id: str) -> RequestSpec:
        """The spec itself when it has a URL; else the request the first input describes."""
        if self.url is not None:
            return self
        value = inputs[0] if inputs else None
        if isinstance(value, str):
            return replace(self, url=value)
        if isinstance(value, Mapping) and isinstance(value.get("url"), str):
            method = str(value.get("method", self.method)).upper()
            if method.lower() not in METHODS:
                raise NodeError(f"input method {method!r} is not one of "
                                f"{', '.join(m.upper() for m in METHODS)}", node_id)
            for name in ("headers", "query"):
                if not isinstance(value.get(name, {}), Mapping):
                    raise NodeError(f"input {name} must be an object", node_id)
            return replace(self, url=value["url"], method=method,
                           headers={**self.headers, **value.get("headers", {})},
                           query={**self.query, **value.get("query", {})},
                           body=value.get("body", self.body))
        raise NodeError("no url: set data.url, or send a URL string or an object with a "
                        "`url` as the node's input", node_id)


# ---------------------------------------------------------------------------------------
# Building the request


@dataclass(frozen=True, slots=True)
class _Client:
    base_url: str | None
    headers: Mapping[str, str]
    query: Mapping[str, str]
    sensitive: frozenset[str]


_NO_CLIENT = _Client(None, {}, {}, frozenset())


def _named_client(uid: str | None, ctx: NodeContext, service: str = "http_clients",
                  what: str = "http_client_uid") -> _Client:
    if not uid:
        return _NO_CLIENT
    clients = ctx.run.services.get(service) or {}
    config = clients.get(uid)
    if not isinstance(config, Mapping):
        raise NodeError(f"unknown {what} {uid!r}", ctx.node_id)
    headers = {k: _text(v) for k, v in (config.get("headers") or {}).items()}
    query = {k: _text(v) for k, v in (config.get("query") or {}).items()}
    sensitive: set[str] = set()
    auth = config.get("auth")
    if auth:
        kind = str(auth.get("type", "")).lower()
        if kind == "bearer":
            headers["Authorization"] = f"Bearer {auth.get('token', '')}"
        elif kind == "basic":
            pair = f"{auth.get('username', '')}:{auth.get('password', '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif kind == "api_key":
            name = str(auth.get("name") or auth.get("header") or "X-API-Key")
            value = _text(auth.get("value", auth.get("key", "")))
            if str(auth.get("in", "header")).lower() == "query":
                query[name] = value
            else:
                headers[name] = value
                sensitive.add(name.lower())
        else:
            raise NodeError(f"http client {uid!r}: unknown auth type {kind!r} "
                            "(use bearer, basic or api_key)", ctx.node_id)
    return _Client(config.get("base_url"), headers, query, frozenset(sensitive))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port


def _full_url(url: str, client: _Client, uid: str | None, node_id: str) -> str:
    absolute = "://" in url
    if client.base_url is None:
        return url
    if not absolute:
        return client.base_url.rstrip("/") + "/" + url.lstrip("/")
    if _origin(url) != _origin(client.base_url):
        raise NodeError(f"url {url} is outside http client {uid!r}'s base_url "
                        f"{client.base_url}: its credentials go nowhere else", node_id)
    return url


def _with_query(url: str, query: Mapping[str, Any]) -> str:
    """`url` with `query` added; a name in `query` replaces the same name in the URL."""
    pairs = [(k, v) for k, v in query.items() if v is not None]
    if not pairs:
        return url
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in query]
    for name, value in pairs:
        values = value if isinstance(value, list) else [value]
        kept.extend((name, _text(v)) for v in values if v is not None)
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _encode_body(spec: RequestSpec, headers: dict[str, str]) -> bytes | None:
    names = {k.lower() for k in headers}
    if spec.body is None:
        return b"" if spec.method in _WITH_BODY else None
    if isinstance(spec.body, str):
        if "content-type" not in names:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return spec.body.encode("utf-8")
    if "content-type" not in names:
        headers["Content-Type"] = "application/json"
    return json.dumps(spec.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_request(spec: RequestSpec, ctx: NodeContext, *, url: str | None = None,
                  query: Mapping[str, Any] | None = None) -> Request:
    """The egress Request for `spec`: client base URL, headers and auth applied, the
    spec's query (or `query` when given) merged into the URL, the body encoded."""
    name: str | None
    if spec.credential:
        client = _named_client(spec.credential, ctx, "credentials", "credential")
        name = spec.credential
    else:
        client = _named_client(spec.client_uid, ctx)
        name = spec.client_uid
    target = _full_url(url or spec.url or "", client, name, ctx.node_id)
    target = _with_query(target, {**client.query, **(spec.query if query is None else query)})
    headers: dict[str, str] = {"Accept": _ACCEPT, **client.headers}
    for name, value in spec.headers.items():
        if value is not None:
            headers[name] = _text(value)
    body = _encode_body(spec, headers)
    return Request(spec.method, target, headers, body, client.sensitive)


# ---------------------------------------------------------------------------------------
# Sending


def _notify(hook: Callable[..., None], *args: Any) -> None:
    try:
        hook(*args)
    except Exception:  # noqa: BLE001 - a broken metrics sink never fails a run
        pass


def _egress(ctx: NodeContext) -> EgressClient:
    services = ctx.run.services
    client = services.get("egress")
    if client is None:
        policy = services.get("egress_policy")
        client = EgressClient(default_policy() if policy is None else policy)
    return client.bounded_by(ctx.limits)


def send(request: Request, ctx: NodeContext, cache_ttl: float | None) -> tuple[Response, bool]:
    """Send through the cache (when `cache_ttl` is set and the method is cacheable) and
    the egress client. Returns (response, served from cache)."""
    observer = ctx.run.observer
    cache: ResponseCache | None = None
    key = ""
    if cache_ttl is not None and request.method in CACHEABLE_METHODS:
        cache = ctx.run.services.get("response_cache")
        if cache is None:  # not `or`: an empty cache is falsy
            cache = default_response_cache()
        key = cache_key(request.method, request.url, request.headers, request.body)
        started = time.perf_counter()
        hit = cache.get(key)
        _notify(observer.cache_lookup, hit is not None)
        if hit is not None:
            _notify(observer.http_call, request.method, request.url, hit.status,
                    (time.perf_counter() - started) * 1000, True)
            return hit, True
    started = time.perf_counter()
    try:
        response = _egress(ctx).fetch(request, deadline=ctx.deadline, cancel=ctx.run.on_cancel,
                                      before_send=lambda _url: ctx.count_http_call())
    except (EgressError, LimitExceeded) as exc:
        _release(cache, key)
        _notify(observer.http_call, request.method, request.url, None,
                (time.perf_counter() - started) * 1000, False)
        ctx.check_deadline()  # out of run time, node timeout or cancelled: that is the news
        exc.node_id = exc.node_id or ctx.node_id
        raise
    _notify(observer.http_call, request.method, request.url, response.status,
            (time.perf_counter() - started) * 1000, False)
    if cache is not None and cache_ttl is not None and response.ok:
        cache.set(key, response, cache_ttl)
    else:
        _release(cache, key)
    return response, False


def _release(cache: ResponseCache | None, key: str) -> None:
    """A miss that will not be filled: a shared cache that made other processes wait for
    this fetch (see engine/cache.py) lets them go."""
    release = getattr(cache, "release", None)
    if release is not None:
        release(key)


def is_json_media(media: str) -> bool:
    """Thaiyyal's rule (http.go isJSONContentType): application/json, application/*+json."""
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def decode_body(response: Response, ctx: NodeContext, method: str = "GET") -> Any:
    """The body decoded as Thaiyyal's http node decodes it: JSON when the Content-Type says
    so, or when there is none and the body starts with `{` or `[` (text if it then does not
    parse); else text, `""` when empty. A HEAD or 204 response has no body: None."""
    if method == "HEAD" or response.status == 204:
        return None
    media = response.media_type
    declared = is_json_media(media)
    if declared or (not media and response.body.lstrip()[:1] in (b"{", b"[")):
        try:
            return bounds.loads(response.body.decode(response.charset, errors="replace"))
        except json.JSONDecodeError as exc:
            # Go's decoder says EOF for an empty body; the phrase is Thaiyyal's, the
            # detail and URL ours
            problem = "EOF" if not response.body.strip() else \
                f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        except (ValueError, LookupError) as exc:
            problem = str(exc)
        except RecursionError:
            problem = "nested too deeply"
        if declared:
            raise NodeError(f"failed to parse JSON response: {problem} (response from "
                            f"{response.url} says {media})", ctx.node_id) from None
    text = response.text()
    if len(text) > ctx.limits.max_string_length:
        raise LimitExceeded("max_string_length", ctx.limits.max_string_length, ctx.node_id,
                            f"response text from {response.url} is {len(text)} characters")
    return text


def _check_status(response: Response, request: Request, ctx: NodeContext) -> None:
    if not response.ok:
        raise HTTPStatusError(response.status, request.method, response.url, ctx.node_id)


# ---------------------------------------------------------------------------------------
# Nodes


@register
class HttpNode(Node):
    """One request. Result: the decoded body (JSON or text), or with `output: "response"`
    `{status, ok, headers, body, url, elapsed_ms, cached}`."""

    type_name = "http"
    io_bound = True
    fields = (*REQUEST_FIELDS,
              Field("allow_error_status", "boolean", default=False),
              Field("output", "string", default="body", choices=("body", "response"),
                    fold_case=True))
    __slots__ = ("spec",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        check_request_fields(config, report)

    def setup(self) -> None:
        self.spec = RequestSpec.from_config(self.config)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        spec = self.spec.with_input(inputs, ctx.node_id)
        request = build_request(spec, ctx)
        response, cached = send(request, ctx, spec.cache_ttl)
        if not self.config.get("allow_error_status"):
            _check_status(response, request, ctx)
        body = decode_body(response, ctx, request.method)
        if self.config.get("output") != "response":
            return body
        return {"status": response.status, "ok": response.ok,
                "headers": dict(response.headers), "body": body, "url": response.url,
                "elapsed_ms": round(response.elapsed * 1000, 3), "cached": cached}


_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";,]*)""", re.IGNORECASE)


def next_link(header: str) -> str | None:
    """The rel="next" target of a Link header, or None."""
    for match in _LINK.finditer(header or ""):
        rel = _REL.search(match.group(2))
        if rel and "next" in rel.group(1).lower().split():
            return match.group(1).strip()
    return None


def field_at(value: Any, path: str) -> Any:
    """`value` at a dotted path (`data.items`, `links[0].href`, `links.0.href`; see
    `lookup_path`); the value itself for "". KeyError when the path leads nowhere."""
    found = lookup_path(value, path)
    if found is MISSING:
        raise KeyError(path)
    return found


@register
class PaginatorNode(Node):
    """Follows the pages of an HTTP API and collects their items.

    `mode: next_url` follows the URL at `next_url_path` in each body (or, with
    `cursor_param`, sends the value found there as that query parameter), or the Link
    header's rel="next" when `next_url_path` is not set. `mode: page` sends `page_param`
    = start_page, start_page+1, ... and stops at an empty page, a page shorter than
    `page_size`, or `max_pages`. Result: `{items, count, pages, has_more}`.
    """

    type_name = "paginator"
    io_bound = True
    fields = (*REQUEST_FIELDS,
              Field("mode", "string", default="next_url", choices=("next_url", "page"),
                    fold_case=True),
              Field("items_path", "string", default=""),
              Field("next_url_path", "string"),
              Field("cursor_param", "string"),
              Field("page_param", "string", default="page"),
              Field("start_page", "integer", default=1),
              Field("page_size_param", "string"),
              Field("page_size", "integer"),
              Field("max_pages", "integer", default=100))
    __slots__ = ("spec",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        check_request_fields(config, report)
        if config.get("max_pages") is not None and config["max_pages"] < 1:
            report("max_pages", "must be at least 1")
        if config.get("page_size") is not None and config["page_size"] < 1:
            report("page_size", "must be at least 1")
        if config.get("page_size_param") and config.get("page_size") is None:
            report("page_size", "required when page_size_param is set")
        if config.get("cursor_param") and not config.get("next_url_path"):
            report("next_url_path", "required when cursor_param is set (where the cursor is)")

    def setup(self) -> None:
        self.spec = RequestSpec.from_config(self.config)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        spec = self.spec.with_input(inputs, ctx.node_id)
        if self.config.get("mode") == "page":
            items, pages, has_more = self._by_page(spec, ctx)
        else:
            items, pages, has_more = self._by_next_url(spec, ctx)
        return {"items": items, "count": len(items), "pages": pages, "has_more": has_more}

    def _page(self, request: Request, spec: RequestSpec, ctx: NodeContext,
              number: int) -> tuple[Response, Any, list[Any]]:
        ctx.check_deadline()
        response, _ = send(request, ctx, spec.cache_ttl)
        _check_status(response, request, ctx)
        body = decode_body(response, ctx, request.method)
        path = self.config.get("items_path") or ""
        try:
            items = field_at(body, path)
        except KeyError:
            raise NodeError(f"page {number} ({response.url}) has no {path!r}",
                            ctx.node_id) from None
        if not isinstance(items, list):
            where = repr(path) if path else "its body"
            raise NodeError(f"page {number} ({response.url}): {where} is not an array",
                            ctx.node_id)
        return response, body, items

    def _collect(self, items: list[Any], page: list[Any], ctx: NodeContext) -> None:
        items.extend(page)
        if len(items) > ctx.limits.max_array_length:
            raise LimitExceeded("max_array_length", ctx.limits.max_array_length, ctx.node_id,
                                "paginator collected more items")

    def _by_page(self, spec: RequestSpec, ctx: NodeContext) -> tuple[list[Any], int, bool]:
        config = self.config
        size = config.get("page_size")
        items: list[Any] = []
        for pages in range(config["max_pages"]):
            query = {**spec.query, config["page_param"]: config["start_page"] + pages}
            if config.get("page_size_param"):
                query[config["page_size_param"]] = size
            _, _, page = self._page(build_request(spec, ctx, query=query), spec, ctx,
                                    pages + 1)
            if not page:
                return items, pages + 1, False
            self._collect(items, page, ctx)
            if size is not None and len(page) < size:
                return items, pages + 1, False
        return items, config["max_pages"], True

    def _by_next_url(self, spec: RequestSpec, ctx: NodeContext,
                     ) -> tuple[list[Any], int, bool]:
        config = self.config
        items: list[Any] = []
        request = build_request(spec, ctx)
        seen = {request.url}
        for pages in range(1, config["max_pages"] + 1):
            response, body, page = self._page(request, spec, ctx, pages)
            self._collect(items, page, ctx)
            following = self._next(response, body, spec, ctx)
            if following is None or following.url in seen:
                return items, pages, False
            seen.add(following.url)
            request = following
        return items, config["max_pages"], True

    def _next(self, response: Response, body: Any, spec: RequestSpec,
              ctx: NodeContext) -> Request | None:
        path = self.config.get("next_url_path")
        if not path:
            link = next_link(response.headers.get("link", ""))
            return None if link is None else build_request(
                spec, ctx, url=urljoin(response.url, link), query={})
        try:
            value = field_at(body, path)
        except KeyError:
            return None
        if value is None or value == "":
            return None
        cursor = self.config.get("cursor_param")
        if cursor:
            return build_request(spec, ctx, query={**spec.query, cursor: _text(value)})
        return build_request(spec, ctx, url=urljoin(response.url, str(value)), query={})
