"""The `http` node, end to end through `engine.execute`, against the loopback server."""

from __future__ import annotations

import base64
import time

import pytest

from engine import Limits, PayloadError, Workflow, execute
from engine.egress import CallAbort, EgressClient, EgressPolicy
from engine.state import NodeContext, Run


def run_http(data, services=None, limits=None, nodes=(), edges=()):
    payload = {"nodes": [*nodes, {"id": "h", "type": "http", "data": data}],
               "edges": list(edges)}
    return execute(payload, limits=limits, services=services)


@pytest.fixture
def services(loopback_policy):
    return {"egress_policy": loopback_policy}


def succeeded(result):
    assert result.status == "succeeded", result.errors
    return result.final_output


# -- results ----------------------------------------------------------------------------


def test_json_response_becomes_the_node_result(http_server, services):
    result = run_http({"url": http_server.url("/json")}, services)
    assert succeeded(result) == {"hello": "world", "items": [1, 2, 3]}
    assert result.node_results["h"] == result.final_output


@pytest.mark.parametrize(("path", "expected"), [
    ("/text", "plain text body"),
    ("/html", "<p>hello</p>"),
    ("/gzip-json", {"compressed": True}),
    ("/no-content", None),
])
def test_body_is_decoded_by_its_content_type(http_server, services, path, expected):
    assert succeeded(run_http({"url": http_server.url(path)}, services)) == expected


def test_json_content_type_with_a_broken_body_fails_clearly(http_server, services):
    result = run_http({"url": http_server.url("/bad-json")}, services)
    assert result.status == "failed"
    # Thaiyyal's phrase, then the detail and the URL
    assert result.errors[0].startswith("error executing node h: failed to parse JSON "
                                       "response: Expecting property name")
    assert f"(response from {http_server.url('/bad-json')} says application/json)" \
        in result.errors[0]


def test_response_output_exposes_status_headers_and_url(http_server, services):
    result = run_http({"url": http_server.url("/headers"), "output": "response"}, services)
    out = succeeded(result)
    assert out["status"] == 200
    assert out["ok"] is True
    assert out["headers"]["x-request-id"] == "req-42"
    assert out["headers"]["x-total-count"] == "23"
    assert out["body"] == {"ok": True}
    assert out["url"] == http_server.url("/headers")
    assert out["cached"] is False
    assert out["elapsed_ms"] > 0


def test_downstream_nodes_can_read_the_status(http_server, services):
    nodes = [{"id": "h", "type": "http", "data": {
        "url": http_server.url("/status?code=404"), "output": "response",
        "allow_error_status": True}},
        {"id": "c", "type": "condition", "data": {"condition": "input.status == 404"}}]
    result = execute({"nodes": nodes, "edges": [{"source": "h", "target": "c"}]},
                     services=services)
    assert succeeded(result)["condition_met"] is True


def test_error_status_fails_the_node_and_names_the_status(http_server, services):
    result = run_http({"url": http_server.url("/status?code=503")}, services)
    assert result.status == "failed"
    assert result.error["code"] == "http_status"
    assert result.error["node_id"] == "h"
    assert "HTTP request returned error status: 503 (status 503, GET " in \
        result.error["message"]


def test_allow_error_status_returns_the_error_body(http_server, services):
    result = run_http({"url": http_server.url("/status?code=500"),
                       "allow_error_status": True}, services)
    assert succeeded(result) == {"status": 500}


# -- requests ---------------------------------------------------------------------------


def test_method_headers_query_and_json_body_are_sent(http_server, services):
    echo = succeeded(run_http({
        "url": http_server.url("/echo?fixed=1"), "method": "patch",
        "headers": {"X-Trace": "t-1", "X-Count": 3},
        "query": {"q": "thaiyyal", "page": 2, "debug": True, "skip": None},
        "body": {"name": "x", "tags": ["a"]},
    }, services))
    assert echo["method"] == "PATCH"
    assert echo["query"] == {"fixed": "1", "q": "thaiyyal", "page": "2", "debug": "true"}
    assert echo["headers"]["x-trace"] == "t-1"
    assert echo["headers"]["x-count"] == "3"
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["body"] == '{"name":"x","tags":["a"]}'


def test_text_body_is_sent_as_text(http_server, services):
    echo = succeeded(run_http({"url": http_server.url("/echo"), "method": "POST",
                               "body": "hello"}, services))
    assert echo["body"] == "hello"
    assert echo["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_query_replaces_a_parameter_of_the_same_name_in_the_url(http_server, services):
    echo = succeeded(run_http({"url": http_server.url("/echo?page=1&x=y"),
                               "query": {"page": 5}}, services))
    assert echo["query"] == {"page": "5", "x": "y"}


def test_head_request_returns_no_body(http_server, services):
    out = succeeded(run_http({"url": http_server.url("/json"), "method": "HEAD",
                              "output": "response"}, services))
    assert out["body"] is None
    assert out["headers"]["content-type"] == "application/json"


def test_url_can_come_from_the_input(http_server, services):
    nodes = [{"id": "t", "type": "text_input", "data": {"text": http_server.url("/json")}}]
    result = run_http({}, services, nodes=nodes, edges=[{"source": "t", "target": "h"}])
    assert succeeded(result)["hello"] == "world"


def test_request_object_input_describes_the_whole_request(http_server, loopback_policy):
    node = Workflow.load({"nodes": [{"id": "h", "type": "http", "data": {}}],
                          "edges": []}).nodes[0]
    run = Run("x", Limits(), {}, None, {"egress_policy": loopback_policy})
    echo = node.run([{"url": http_server.url("/echo"), "method": "put",
                      "headers": {"X-From": "input"}, "query": {"id": 7},
                      "body": {"v": 1}}], NodeContext(run, "h"))
    assert (echo["method"], echo["query"], echo["body"]) == ("PUT", {"id": "7"}, '{"v":1}')
    assert echo["headers"]["x-from"] == "input"


def test_without_url_or_url_input_the_node_says_what_it_needs(services):
    result = run_http({}, services)
    assert result.status == "failed"
    assert "no url" in result.errors[0]


# -- named clients ----------------------------------------------------------------------


def client_services(loopback_policy, http_server, auth=None, **extra):
    config = {"base_url": http_server.url("/"), "headers": {"X-Client": "crm"}, **extra}
    if auth:
        config["auth"] = auth
    return {"egress_policy": loopback_policy, "http_clients": {"crm": config}}


def test_named_client_supplies_base_url_headers_and_bearer_auth(http_server,
                                                                loopback_policy):
    services = client_services(loopback_policy, http_server,
                               {"type": "bearer", "token": "tok"})
    echo = succeeded(run_http({"url": "/echo", "http_client_uid": "crm",
                               "headers": {"X-Node": "1"}}, services))
    assert echo["path"] == "/echo"
    assert echo["headers"]["authorization"] == "Bearer tok"
    assert echo["headers"]["x-client"] == "crm"
    assert echo["headers"]["x-node"] == "1"


def test_named_client_basic_auth(http_server, loopback_policy):
    services = client_services(loopback_policy, http_server,
                               {"type": "basic", "username": "ann", "password": "pw"})
    echo = succeeded(run_http({"url": "echo", "http_client_uid": "crm"}, services))
    assert echo["headers"]["authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()


@pytest.mark.parametrize(("where", "check"), [
    ("header", lambda echo: echo["headers"]["x-api-key"] == "k1"),
    ("query", lambda echo: echo["query"]["api_key"] == "k1"),
])
def test_named_client_api_key_in_header_or_query(http_server, loopback_policy, where, check):
    name = "X-Api-Key" if where == "header" else "api_key"
    services = client_services(loopback_policy, http_server,
                               {"type": "api_key", "name": name, "value": "k1", "in": where})
    assert check(succeeded(run_http({"url": "/echo", "http_client_uid": "crm"}, services)))


def test_named_client_credentials_never_leave_its_base_url(http_server, loopback_policy):
    services = client_services(loopback_policy, http_server, {"type": "bearer", "token": "t"})
    result = run_http({"url": "http://127.0.0.1:1/steal", "http_client_uid": "crm"},
                      services)
    assert result.status == "failed"
    assert "outside http client 'crm'" in result.errors[0]


def test_unknown_named_client_fails_clearly(services):
    result = run_http({"url": "/x", "http_client_uid": "nope"}, services)
    assert "unknown http_client_uid 'nope'" in result.errors[0]


# -- safety and limits ------------------------------------------------------------------


def test_private_addresses_are_refused_by_default(http_server):
    result = run_http({"url": http_server.url("/json")})
    assert result.status == "failed"
    assert result.error["code"] == "egress_refused"
    assert "127.0.0.1 is loopback" in result.error["message"]
    assert http_server.hits("/json") == 0


def test_names_resolving_to_private_addresses_are_refused():
    def fail_connect(address: str, port: int, timeout: float, abort: CallAbort):
        pytest.fail("connected")

    client = EgressClient(EgressPolicy(),
                          resolver=lambda host, port, timeout: ["10.20.30.40"],
                          connector=fail_connect)
    result = run_http({"url": "http://intranet.example/"}, {"egress": client})
    assert "intranet.example resolves to 10.20.30.40, which is private (RFC 1918)" in (
        result.error["message"])


def test_max_http_calls_counts_every_request_including_redirect_hops(http_server,
                                                                     services):
    result = run_http({"url": http_server.url("/redirect?n=3")}, services,
                      Limits(max_http_calls=3))
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "max_http_calls=3" in result.error["message"]
    assert http_server.hits("/redirect") == 3


def test_run_limit_on_response_size_stops_a_gzip_bomb(http_server, services):
    result = run_http({"url": http_server.url(f"/gzip-bomb?size={64 * 1024 * 1024}")},
                      services, Limits(max_http_response_bytes=1024 * 1024))
    assert "max_http_response_bytes=1048576" in result.error["message"]


def test_text_longer_than_the_string_limit_fails(http_server, services):
    result = run_http({"url": http_server.url("/huge?size=5000")}, services,
                      Limits(max_string_length=1000))
    assert "max_string_length=1000" in result.error["message"]


def test_node_timeout_aborts_a_hanging_call(http_server, services):
    started = time.monotonic()
    result = run_http({"url": http_server.url("/hang"), "timeout": "200ms"}, services)
    assert time.monotonic() - started < 2.0
    assert result.status == "failed"
    assert result.error["code"] == "timeout"


def test_run_deadline_aborts_a_hanging_call(http_server, services):
    started = time.monotonic()
    result = run_http({"url": http_server.url("/hang")}, services,
                      Limits(max_execution_time=0.3))
    assert time.monotonic() - started < 2.0
    assert result.status == "failed"
    assert "max_execution_time" in str(result.error)


def test_retry_policy_re_sends_until_the_server_recovers(http_server, services):
    result = run_http({"url": http_server.url("/flaky?key=node-retry&failures=2"),
                       "retry": {"max_attempts": 3, "initial_delay": "10ms",
                                 "retry_on": ["status 5"]}}, services)
    assert succeeded(result) == {"ok": True, "attempt": 3}
    assert result.nodes[0].attempts == 3


# -- load-time checks -------------------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "message"), [
    ({"url": "ftp://files.example/x"}, "$.nodes[0].data.url", "http or https"),
    ({"url": "/relative"}, "$.nodes[0].data.url", "must be absolute"),
    ({"url": "http://a.test/", "method": "TRACE"}, "$.nodes[0].data.method", "one of"),
    ({"url": "http://a.test/", "headers": {"X": {"nested": 1}}},
     "$.nodes[0].data.headers.X", "string, number or boolean"),
    ({"url": "http://a.test/", "output": "everything"}, "$.nodes[0].data.output", "one of"),
])
def test_invalid_data_is_reported_at_load_with_its_path(data, path, message):
    with pytest.raises(PayloadError) as caught:
        Workflow.load({"nodes": [{"id": "h", "type": "http", "data": data}], "edges": []})
    problems = caught.value.to_list()
    assert any(p["path"] == path and message in p["message"] for p in problems), problems


def test_thaiyyal_http_node_without_a_type_is_recognised_by_its_url(http_server, services):
    result = execute({"nodes": [{"id": "h", "data": {"url": http_server.url("/json")}}],
                      "edges": []}, services=services)
    assert succeeded(result)["hello"] == "world"


def test_thaiyyal_http_then_parse_still_yields_the_parsed_body(http_server, services):
    nodes = [{"id": "h", "type": "http", "data": {"url": http_server.url("/json")}},
             {"id": "p", "type": "parse", "data": {"input_type": "JSON"}}]
    result = execute({"nodes": nodes, "edges": [{"source": "h", "target": "p"}]},
                     services=services)
    assert succeeded(result) == {"hello": "world", "items": [1, 2, 3]}
