"""The `paginator` node: next-URL, cursor, Link-header and page-number modes, under limits."""

from __future__ import annotations

import pytest

from engine import Limits, PayloadError, Workflow, execute
from engine.cache import LocalResponseCache
from engine.nodes.http import field_at, next_link
from tests.httpserver import ITEM_COUNT

ALL_IDS = list(range(1, ITEM_COUNT + 1))


@pytest.fixture
def services(loopback_policy):
    return {"egress_policy": loopback_policy}


def paginate(data, services, limits=None):
    payload = {"nodes": [{"id": "p", "type": "paginator", "data": data}], "edges": []}
    return execute(payload, limits=limits, services=services)


def collected(result):
    assert result.status == "succeeded", result.errors
    out = result.final_output
    return [item["id"] if isinstance(item, dict) else item for item in out["items"]], out


def test_next_url_mode_follows_the_url_in_the_body(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/cursor?size=10"),
                                   "items_path": "data", "next_url_path": "next"}, services))
    assert ids == ALL_IDS
    assert (out["count"], out["pages"], out["has_more"]) == (ITEM_COUNT, 3, False)
    assert http_server.hits("/cursor") == 3


def test_cursor_mode_sends_the_cursor_as_a_query_parameter(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/cursor"), "query": {"size": 10},
                                   "items_path": "data", "next_url_path": "next_cursor",
                                   "cursor_param": "cursor"}, services))
    assert ids == ALL_IDS
    assert out["pages"] == 3
    assert http_server.last("/cursor").query == {"size": "10", "cursor": "20"}


def test_link_header_mode_follows_rel_next(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/link-pages?size=10")}, services))
    assert ids == ALL_IDS
    assert out["pages"] == 3


def test_page_mode_stops_at_a_short_page(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/pages"), "mode": "page",
                                   "items_path": "items", "page_size_param": "size",
                                   "page_size": 10}, services))
    assert ids == ALL_IDS
    assert (out["pages"], out["has_more"]) == (3, False)


def test_page_mode_without_a_page_size_stops_at_an_empty_page(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/pages?size=5"), "mode": "page",
                                   "items_path": "items"}, services))
    assert ids == ALL_IDS
    assert out["pages"] == 6  # five pages of items, then the empty one
    assert [r.query["page"] for r in http_server.requests] == ["1", "2", "3", "4", "5", "6"]


def test_page_mode_honours_start_page_and_page_param(http_server, services):
    ids, _ = collected(paginate({"url": http_server.url("/pages?size=10"), "mode": "page",
                                 "items_path": "items", "page_param": "page",
                                 "start_page": 2}, services))
    assert ids == ALL_IDS[10:]


def test_max_pages_stops_early_and_says_there_may_be_more(http_server, services):
    ids, out = collected(paginate({"url": http_server.url("/cursor?size=5"),
                                   "items_path": "data", "next_url_path": "next",
                                   "max_pages": 2}, services))
    assert ids == ALL_IDS[:10]
    assert (out["pages"], out["has_more"]) == (2, True)


def test_a_next_link_back_to_a_seen_page_ends_the_walk(http_server, services):
    _, out = collected(paginate({"url": http_server.url("/self-next"), "items_path": "data",
                                 "next_url_path": "next"}, services))
    assert out["pages"] == 1
    assert http_server.hits("/self-next") == 1


def test_next_links_are_checked_by_the_egress_guard(http_server, services):
    result = paginate({"url": http_server.url("/next-to?url=http://169.254.169.254/"),
                       "items_path": "data", "next_url_path": "next"}, services)
    assert result.status == "failed"
    assert result.error["code"] == "egress_refused"
    assert "cloud metadata" in result.error["message"]


def test_pages_count_against_max_http_calls(http_server, services):
    result = paginate({"url": http_server.url("/cursor?size=5"), "items_path": "data",
                       "next_url_path": "next"}, services, Limits(max_http_calls=2))
    assert result.status == "failed"
    assert "max_http_calls=2" in result.error["message"]
    assert http_server.hits("/cursor") == 2


def test_collected_items_obey_the_array_limit(http_server, services):
    result = paginate({"url": http_server.url("/cursor?size=10"), "items_path": "data",
                       "next_url_path": "next"}, services, Limits(max_array_length=15))
    assert "max_array_length=15" in result.error["message"]


def test_cached_pages_are_not_fetched_again(http_server, loopback_policy):
    services = {"egress_policy": loopback_policy, "response_cache": LocalResponseCache()}
    data = {"url": http_server.url("/cursor?size=10"), "items_path": "data",
            "next_url_path": "next", "cache": True}
    first, _ = collected(paginate(data, services))
    second, _ = collected(paginate(data, services))
    assert first == second == ALL_IDS
    assert http_server.hits("/cursor") == 3


def test_missing_items_field_fails_with_the_page_and_path(http_server, services):
    result = paginate({"url": http_server.url("/cursor"), "items_path": "results"},
                      services)
    assert "page 1" in result.error["message"]
    assert "has no 'results'" in result.error["message"]


def test_items_that_are_not_an_array_fail(http_server, services):
    result = paginate({"url": http_server.url("/json"), "items_path": "hello"}, services)
    assert "'hello' is not an array" in result.error["message"]


def test_error_status_on_a_page_fails_the_node(http_server, services):
    result = paginate({"url": http_server.url("/status?code=502")}, services)
    assert result.error["code"] == "http_status"


@pytest.mark.parametrize(("data", "path"), [
    ({"url": "http://a.test/", "max_pages": 0}, "$.nodes[0].data.max_pages"),
    ({"url": "http://a.test/", "page_size_param": "size"}, "$.nodes[0].data.page_size"),
    ({"url": "http://a.test/", "cursor_param": "c"}, "$.nodes[0].data.next_url_path"),
    ({"url": "http://a.test/", "mode": "offset"}, "$.nodes[0].data.mode"),
])
def test_inconsistent_settings_are_reported_at_load(data, path):
    with pytest.raises(PayloadError) as caught:
        Workflow.load({"nodes": [{"id": "p", "type": "paginator", "data": data}],
                       "edges": []})
    assert path in [p["path"] for p in caught.value.to_list()]


@pytest.mark.parametrize(("header", "expected"), [
    ('<https://a.test/?page=2>; rel="next"', "https://a.test/?page=2"),
    ('<https://a.test/?p=1>; rel="prev", <https://a.test/?p=3>; rel=next',
     "https://a.test/?p=3"),
    ('<https://a.test/x,y>; rel="next last"', "https://a.test/x,y"),
    ('<https://a.test/?p=1>; rel="prev"', None),
    ("", None),
])
def test_next_link_reads_rel_next_from_a_link_header(header, expected):
    assert next_link(header) == expected


def test_field_paths_walk_objects_and_arrays():
    body = {"data": {"pages": [{"next": "/2"}]}}
    assert field_at(body, "data.pages.0.next") == "/2"
    assert field_at(body, "") is body
    with pytest.raises(KeyError):
        field_at(body, "data.missing")
