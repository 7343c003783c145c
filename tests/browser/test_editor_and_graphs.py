"""The pages in a real headless Chromium: build a workflow in the visual editor by clicking
and dragging, save it, execute it and read the run's graph; open a Thaiyyal export and save
it with nothing lost; every page renders its graph. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import log_in, screenshot, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: a node box's size in the editor's drawing (graph.js NODE_WIDTH, NODE_HEIGHT)
NODE_BOX = (184, 58)
EXPORT = json.loads((Path(__file__).with_name("thaiyyal_export.json")).read_text())


def css(driver: WebDriver, selector: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, selector)


def open_editor(browser: WebDriver, url: str, name: str | None = None) -> None:
    browser.get(url)
    if name is not None:
        css(browser, "input[name=name]").send_keys(name)
    wait(browser).until(lambda d: d.execute_script(
        "return document.querySelector('.te-editor')?.parentNode.querySelector('[data-ready]')"
        " !== null || document.querySelector('[data-ready=\"1\"]') !== null"))
    wait(browser).until(lambda d: d.execute_script("return !!window.thaiyyalEditor"))
    show_canvas(browser)


def show_canvas(browser: WebDriver) -> None:
    browser.execute_script("document.querySelector('.te-toolbar').scrollIntoView()")


def editor_doc(browser: WebDriver) -> dict:
    return browser.execute_script("return window.thaiyyalEditor.editor.doc")


def wait_problems(browser: WebDriver, expected: str) -> str:
    """Waits until the live validation's problem list shows `expected`."""
    wait(browser).until(lambda d: expected in css(d, ".te-problems").text)
    return css(browser, ".te-problems").text


def node(browser: WebDriver, node_id: str) -> WebElement:
    return css(browser, f'.te-node[data-node-id="{node_id}"]')


def connect(browser: WebDriver, source: str, target: str, handle_name: str | None = None) -> None:
    """Drags from `source`'s output handle (the one named `handle_name`, else the first)
    onto the middle of `target`."""
    handle = node(browser, source).find_element(By.CSS_SELECTOR, ".te-out" if handle_name is None
                                                else f'.te-out[data-handle-out="{handle_name}"]')
    start, end = (browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left + r.width / 2, r.top + r.height / 2];", element)
        for element in (handle, node(browser, target)))
    ActionChains(browser).move_to_element(handle).click_and_hold() \
        .move_by_offset(round(end[0] - start[0]), round(end[1] - start[1])).release().perform()


def set_field(browser: WebDriver, node_id: str, field: str, value: str) -> None:
    node(browser, node_id).click()
    box = css(browser, f'.te-inspector [name="field-{field}"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value, Keys.TAB)


def save(browser: WebDriver) -> None:
    css(browser, "input[name=_continue]").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    wait(browser).until(lambda d: d.execute_script("return !!window.thaiyyalEditor"))


def test_build_connect_save_execute_and_read_the_run(browser, site):
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "Built in the browser")
    palette = {b.get_attribute("data-type"): b
               for b in browser.find_elements(By.CSS_SELECTOR, ".te-palette-item")}
    palette["number"].click()
    palette["number"].click()
    palette["operation"].click()
    assert [n["id"] for n in editor_doc(browser)["nodes"]] == [
        "number_1", "number_2", "operation_1"]
    # a node moved by dragging keeps its new position in the JSON
    show_canvas(browser)
    before = editor_doc(browser)["nodes"][1]["position"]
    ActionChains(browser).drag_and_drop_by_offset(node(browser, "number_2"), 0, 60).perform()
    after = editor_doc(browser)["nodes"][1]["position"]
    assert after["y"] - before["y"] == pytest.approx(60 / browser.execute_script(
        "return window.thaiyyalEditor.editor.canvas.panzoom.k"), abs=2)
    show_canvas(browser)
    for source in ("number_1", "number_2"):
        connect(browser, source, "operation_1")
    assert [(e["source"], e["target"]) for e in editor_doc(browser)["edges"]] == [
        ("number_1", "operation_1"), ("number_2", "operation_1")]
    css(browser, "[data-action=layout]").click()
    positions = {n["id"]: n["position"] for n in editor_doc(browser)["nodes"]}
    assert positions["number_1"]["x"] == positions["number_2"]["x"] < positions["operation_1"]["x"]
    pairs = [("number_1", "operation_1"), ("number_2", "operation_1")]
    # disconnect by dragging the edge's end off its input handle; undo brings it back
    show_canvas(browser)
    inlet = node(browser, "operation_1").find_element(By.CSS_SELECTOR, ".te-in")
    ActionChains(browser).move_to_element(inlet).click_and_hold().move_by_offset(0, 150) \
        .release().perform()
    assert [(e["source"], e["target"]) for e in editor_doc(browser)["edges"]] == pairs[:1]
    css(browser, "[data-action=undo]").click()
    assert [(e["source"], e["target"]) for e in editor_doc(browser)["edges"]] == pairs
    # delete a node (its edges go with it); Ctrl+Z undoes
    node(browser, "number_2").click()
    ActionChains(browser).send_keys(Keys.DELETE).perform()
    assert [n["id"] for n in editor_doc(browser)["nodes"]] == ["number_1", "operation_1"]
    assert [(e["source"], e["target"]) for e in editor_doc(browser)["edges"]] == pairs[:1]
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert [(e["source"], e["target"]) for e in editor_doc(browser)["edges"]] == pairs
    set_field(browser, "number_1", "value", "2")
    set_field(browser, "number_2", "value", "40")
    node(browser, "operation_1").click()
    op = Select(css(browser, '.te-inspector [name="field-op"]'))
    # A slow validation (as on a loaded server): its answer comes after the code editor's
    # own linter has run for the edit (750 ms), and must still mark the code.
    browser.execute_script("""
        const fetch = window.fetch;
        window.thaiyyalTestFetch = fetch;
        window.fetch = (...args) => fetch(...args).then(
            (answer) => new Promise((done) => setTimeout(() => done(answer), 1500)));""")
    op.select_by_value("")  # "not set": op is required, so the engine refuses it
    wait_problems(browser, "operation_1: $.nodes[2].data.op: required (string)")
    assert "te-invalid" in node(browser, "operation_1").get_attribute("class")
    # the JSON editor marks it too, on the node's "id" line
    wait(browser).until(lambda d: d.execute_script(
        "return window.thaiyyalEditor.diagnostics().length"))
    marked = [{"message": "$.nodes[2].data.op: required (string)", "source": "engine",
               "text": '"id": "operation_1",'}]
    assert browser.execute_script("return window.thaiyyalEditor.diagnostics()") == marked
    # and stays marked once the code editor's own linter has run again (750 ms after the
    # edit): its run used to wipe the engine's marks
    time.sleep(1.5)
    assert browser.execute_script("return window.thaiyyalEditor.diagnostics()") == marked
    browser.execute_script("window.fetch = window.thaiyyalTestFetch;")
    op.select_by_value('"multiply"')
    wait_problems(browser, "Valid")
    assert "te-invalid" not in node(browser, "operation_1").get_attribute("class")
    screenshot(browser, "editor")
    save(browser)

    saved = json.loads(css(browser, "textarea[name=definition]").get_attribute("value"))
    assert [n["data"] for n in saved["nodes"]] == [{"value": 2}, {"value": 40}, {"op": "multiply"}]
    css(browser, ".object-tools a[href$='/execute/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[value=Execute]"))
    css(browser, "input[type=submit][value=Execute]").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".outcome [data-ready]"))
    assert "succeeded" in css(browser, ".outcome h2").text
    assert "80" in css(browser, ".outcome pre").text
    screenshot(browser, "execute-result")
    css(browser, ".outcome a[href*='/run/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
    statuses = {g.get_attribute("data-node-id"): g.get_attribute("class")
                for g in browser.find_elements(By.CSS_SELECTOR, ".tg-node")}
    assert set(statuses) == {"number_1", "number_2", "operation_1"}
    assert all("tg-status-succeeded" in c for c in statuses.values())
    # each node shows its duration; its details its attempts
    drawn = css(browser, '.tg-node[data-node-id="operation_1"] .tg-outcome').text
    assert re.fullmatch(r"succeeded · [0-9.]+ (ms|s)", drawn), drawn
    css(browser, '.tg-node[data-node-id="operation_1"]').click()
    details = css(browser, ".tg-details").text
    assert re.search(r"succeeded in [0-9.]+ (ms|s) · attempts: 1", details), details
    assert "OUTPUT\n80" in details
    assert '"from": "number_1"' in details
    screenshot(browser, "run")


def test_a_failing_run_marks_its_node_and_what_was_not_reached(browser, site):
    failing = {"nodes": [{"id": "ten", "type": "number", "data": {"value": 10}},
                         {"id": "zero", "type": "number", "data": {"value": 0}},
                         {"id": "divide", "type": "operation", "data": {"op": "divide"}},
                         {"id": "after", "type": "expression", "data": {"expression": "input"}}],
               "edges": [{"source": "ten", "target": "divide"},
                         {"source": "zero", "target": "divide"},
                         {"source": "divide", "target": "after"}]}
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "Divides by zero")
    paste_json(browser, failing)
    save(browser)
    css(browser, ".object-tools a[href$='/execute/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[value=Execute]"))
    css(browser, "input[type=submit][value=Execute]").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".outcome a[href*='/run/']"))
    css(browser, ".outcome a[href*='/run/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))

    failed = css(browser, '.tg-node[data-node-id="divide"]')
    assert "tg-status-failed" in failed.get_attribute("class")
    assert "tg-selected" in failed.get_attribute("class")  # opened on arrival
    assert "tg-status-not_reached" in css(browser, '.tg-node[data-node-id="after"]'
                                          ).get_attribute("class")
    assert "division by zero" in css(browser, ".tg-details").text
    assert browser.find_elements(By.CSS_SELECTOR, ".field-timeline .timeline-bar, "
                                 "td.field-timeline div")
    screenshot(browser, "run-failed")


def paste_json(browser: WebDriver, doc: dict) -> None:
    """Replaces the code editor's text, as pasting would."""
    browser.execute_script(
        "const c = window.thaiyyalEditor.code;"
        "c.dispatch({changes: {from: 0, to: c.state.doc.length, insert: arguments[0]}});",
        json.dumps(doc, indent=2))


#: what saving does to an export's spelling, and nothing else: Thaiyyal's editor type names
#: and camelCase data keys of declared fields become ours (the canonical form)
SAVED_TYPES = {"numberNode": "number", "opNode": "operation", "conditionNode": "condition",
               "textOpNode": "text_operation", "textInputNode": "text_input",
               "barChartNode": "visualization", "expression": "expression"}
SAVED_KEYS = {"textOp": "text_op"}


def test_a_thaiyyal_export_opens_and_saves_with_nothing_lost(browser, site):
    """The fixture is spelled as Thaiyyal's editor exports (`opNode`, `textOp`, positions,
    `measured`, edge ids, `viewport`). The stored version has the same nodes, edges, data
    values, positions and every other key; only the type names and camelCase keys are
    rewritten to the canonical form."""
    assert {n["type"] for n in EXPORT["nodes"]} >= {"opNode", "textOpNode"}
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "From Thaiyyal")
    paste_json(browser, EXPORT)
    assert editor_doc(browser) == EXPORT
    # drawn where Thaiyyal's editor put each node
    transform = node(browser, "3").get_attribute("transform")
    assert transform == "translate(300 130)"
    wait_problems(browser, "Valid")
    screenshot(browser, "thaiyyal-export")
    save(browser)
    change_url = browser.current_url

    open_editor(browser, change_url)
    reopened = json.loads(css(browser, "textarea[name=definition]").get_attribute("value"))
    assert node(browser, "3").get_attribute("transform") == "translate(300 130)"
    save(browser)  # unchanged: no new version
    stored = browser.execute_script(
        "const id = location.pathname.split('/').at(-3);"
        "return fetch(`/api/v1/workflows/${id}/`).then(r => r.json());")
    assert stored["version"] == 1
    saved = stored["definition"]
    assert reopened == saved
    expected = json.loads(json.dumps(EXPORT))
    for n in expected["nodes"]:
        n["type"] = SAVED_TYPES[n["type"]]
        n["data"] = {SAVED_KEYS.get(k, k): v for k, v in n["data"].items()}
    assert saved == expected
    # spelled out: every node, edge, position, data value and editor key is there
    assert [n["id"] for n in saved["nodes"]] == [n["id"] for n in EXPORT["nodes"]]
    assert [n["position"] for n in saved["nodes"]] == [n["position"] for n in EXPORT["nodes"]]
    assert [sorted(n["data"].values(), key=str) for n in saved["nodes"]] == [
        sorted(n["data"].values(), key=str) for n in EXPORT["nodes"]]
    assert saved["edges"] == EXPORT["edges"]
    assert saved["viewport"] == EXPORT["viewport"]
    assert saved["nodes"][7]["data"]["barColor"] == "#3b82f6"  # not a declared field: as given
    browser.get(change_url.replace("/change/", "/versions/1/"))
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".tg-edge-label text")]
    assert labels == ["true"]
    css(browser, '.tg-node[data-node-id="4"]').click()
    assert '"condition": ">=30"' in css(browser, ".tg-details").text
    browser.execute_script("document.querySelector('.tg-graph').scrollIntoView()")
    screenshot(browser, "graph")


def test_the_editor_reads_thaiyyals_editor_names_and_camel_case_keys(browser, site):
    open_editor(browser, site.base + "/admin/workflows/workflow/add/")
    paste_json(browser, {"nodes": [
        {"id": "m", "type": "opNode", "position": {"x": 40, "y": 40}, "data": {"op": "multiply"}},
        {"id": "t", "type": "textOpNode", "position": {"x": 40, "y": 140},
         "data": {"textOp": "uppercase"}}], "edges": []})

    node(browser, "m").click()
    assert Select(css(browser, '[name="field-op"]')).first_selected_option.text == "multiply"
    node(browser, "t").click()
    text_op = Select(css(browser, '[name="field-text_op"]'))
    assert text_op.first_selected_option.text == "uppercase"
    text_op.select_by_value('"lowercase"')
    assert editor_doc(browser)["nodes"][1]["data"] == {"textOp": "lowercase"}


#: a condition's true and false branches and a switch's cases: n is 85, so the condition's
#: `true` branch and the switch's `B` case run, and the rest is skipped
BRANCHES = {
    "nodes": [{"id": "n", "type": "number", "data": {"value": 85}},
              {"id": "big", "type": "condition", "data": {"condition": "input > 100"}},
              {"id": "yes", "type": "visualization", "data": {}},
              {"id": "no", "type": "visualization", "data": {}},
              {"id": "grade", "type": "switch", "data": {"cases": [
                  {"when": "input >= 90", "output_path": "A"},
                  {"when": "input >= 80", "output_path": "B"},
                  {"when": "default", "output_path": "F", "is_default": True}]}},
              {"id": "a", "type": "visualization", "data": {}},
              {"id": "b", "type": "expression", "data": {"expression": "input.value + 1"}}],
    "edges": [{"source": "n", "target": "big"},
              {"source": "big", "target": "yes", "sourceHandle": "true"},
              {"source": "big", "target": "no", "sourceHandle": "false"},
              {"source": "n", "target": "grade"},
              {"source": "grade", "target": "a", "sourceHandle": "A"},
              {"source": "grade", "target": "b", "sourceHandle": "B"}],
}


def test_named_handles_palette_drops_and_json_linting(browser, site):
    open_editor(browser, site.base + "/admin/workflows/workflow/add/")
    paste_json(browser, {"nodes": [
        {"id": "c", "type": "condition", "position": {"x": 40, "y": 120},
         "data": {"condition": "input > 1"}},
        {"id": "yes", "type": "visualization", "position": {"x": 400, "y": 20}, "data": {}},
        {"id": "no", "type": "visualization", "position": {"x": 400, "y": 220}, "data": {}}],
        "edges": []})
    show_canvas(browser)
    # a condition has a true and a false handle: an edge keeps the one it was dragged from
    connect(browser, "c", "no", "false")
    connect(browser, "c", "yes", "true")
    assert [(e["source"], e.get("sourceHandle"), e["target"])
            for e in editor_doc(browser)["edges"]] == [("c", "false", "no"), ("c", "true", "yes")]
    labels = [t.text for t in
              browser.find_elements(By.CSS_SELECTOR, ".te-editor .tg-edge-label text")]
    assert sorted(labels) == ["false", "true"]

    # a palette item dragged onto the canvas is added where it is dropped
    dropped = browser.execute_script("""
        const item = document.querySelector('.te-palette-item[data-type="delay"]');
        const stage = document.querySelector('.te-stage');
        const box = stage.getBoundingClientRect();
        const data = new DataTransfer();
        const at = {clientX: box.left + 300, clientY: box.top + 320};
        item.dispatchEvent(new DragEvent('dragstart', {dataTransfer: data, bubbles: true}));
        stage.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true,
                                                       cancelable: true, ...at}));
        stage.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true,
                                                   cancelable: true, ...at}));
        return window.thaiyyalEditor.editor.canvas.panzoom.toDrawing(at.clientX, at.clientY);""")
    added = editor_doc(browser)["nodes"][-1]
    assert (added["id"], added["type"]) == ("delay_1", "delay")
    assert added["position"]["x"] == pytest.approx(dropped["x"], abs=NODE_BOX[0])
    assert added["position"]["y"] == pytest.approx(dropped["y"], abs=NODE_BOX[1])

    # the code editor lints the JSON as typed; the canvas keeps the last valid document
    before = editor_doc(browser)
    browser.execute_script(
        "const c = window.thaiyyalEditor.code;"
        "c.dispatch({changes: {from: 0, to: c.state.doc.length, insert: '{\"nodes\": ['}});")
    # (the engine's problem with the new node, no duration, is there until the linter runs)
    wait(browser).until(lambda d: d.execute_script(
        "return window.thaiyyalEditor.diagnostics().some(p => p.source !== 'engine')"))
    [problem] = browser.execute_script("return window.thaiyyalEditor.diagnostics()")
    assert problem["source"] is None  # the JSON parse linter's, not the engine's
    assert "JSON" in problem["message"] or "Unexpected" in problem["message"], problem
    assert editor_doc(browser) == before
    assert css(browser, "textarea[name=definition]").get_attribute("value") == '{"nodes": ['


#: a workflow name as long as the model allows (200), with a 64-character word in it
LONG_NAME = ("Every page: " + "nightly_order_totals_by_region_and_currency_with_late_adjustments"
             + " and a description of what it does" * 4)[:200]


def test_every_page_renders_its_graph(browser, site):
    """Makes its own workflow, so it runs alone too (`-k every_page`)."""
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", LONG_NAME)
    paste_json(browser, BRANCHES)
    wait_problems(browser, "Valid")
    save(browser)
    change_url = browser.current_url
    css(browser, ".object-tools a[href$='/execute/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[value=Execute]"))
    screenshot(browser, "execute-form")
    css(browser, "input[type=submit][value=Execute]").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".outcome [data-ready]"))
    statuses = {g.get_attribute("data-node-id"): g.get_attribute("class").split()[-1]
                for g in browser.find_elements(By.CSS_SELECTOR, ".outcome .tg-node")}
    assert statuses == {"n": "tg-status-succeeded", "big": "tg-status-succeeded",
                        "yes": "tg-status-skipped", "no": "tg-status-succeeded",
                        "grade": "tg-status-succeeded", "a": "tg-status-skipped",
                        "b": "tg-status-succeeded"}
    # each node that ran shows its duration; a skipped one says so
    outcome = {g.get_attribute("data-node-id"): g.find_element(By.CSS_SELECTOR, ".tg-outcome").text
               for g in browser.find_elements(By.CSS_SELECTOR, ".outcome .tg-node")}
    assert re.fullmatch(r"succeeded · [0-9.]+ (ms|s)", outcome["b"]), outcome["b"]
    assert outcome["a"].startswith("skipped")
    css(browser, '.outcome .tg-node[data-node-id="b"]').click()
    assert re.search(r"succeeded in [0-9.]+ (ms|s) · attempts: 1",
                     css(browser, ".outcome .tg-details").text)
    # the recorded run's page draws the skipped branches too
    css(browser, ".outcome a[href*='/run/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
    assert {g.get_attribute("data-node-id"): g.get_attribute("class").split()[-1]
            for g in browser.find_elements(By.CSS_SELECTOR, ".tg-node")} == statuses
    assert css(browser, '.tg-node[data-node-id="a"] .tg-outcome').text.startswith("skipped")
    screenshot(browser, "run-skipped")

    browser.get(site.base + "/")
    assert "Run history" in css(browser, "#landing").text
    screenshot(browser, "landing")
    browser.get(site.base + "/admin/workflows/workflow/")
    path = urlparse(change_url).path
    # its own row (another test's workflow may be listed first)
    row = css(browser, f"#result_list tbody tr:has(a[href='{path}'])")
    pill = row.find_element(By.CSS_SELECTOR, ".status-pill")  # its last run's
    assert (pill.text, pill.value_of_css_property("background-color")) == (
        "succeeded", "rgba(227, 244, 230, 1)")
    screenshot(browser, "workflow-list")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Every page").click()
    assert browser.current_url == change_url
    wait(browser).until(lambda d: d.execute_script("return !!window.thaiyyalEditor"))
    css(browser, ".object-tools a.historylink").click()
    assert browser.current_url.endswith("/versions/")
    screenshot(browser, "versions")
    css(browser, "a[href$='/versions/1/']").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".tg-node")) == 7
    assert len(browser.find_elements(By.CSS_SELECTOR, ".tg-edge")) == 6
    # every edge from a named handle carries its name: true/false, the switch's cases
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".tg-edge-label text")]
    assert sorted(labels) == ["A", "B", "false", "true"]
    screenshot(browser, "version-graph")
    # the run list fits a 1400 px window with the longest name a workflow may have (200
    # characters, an unbroken identifier in it) in its rows and its filter
    browser.get(site.base + "/admin/workflows/run/")
    assert LONG_NAME in css(browser, "#result_list").text
    assert browser.execute_script("return window.innerWidth") == 1400
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")
    # nor does the list scroll sideways inside its own box (the admin's .results scrolls)
    assert browser.execute_script(
        "const r = document.querySelector('#changelist .results');"
        "return r.scrollWidth <= r.clientWidth")
    # each status has its colour
    pill = css(browser, "#result_list .status-pill")
    assert (pill.text, pill.value_of_css_property("background-color")) == (
        "succeeded", "rgba(227, 244, 230, 1)")
    screenshot(browser, "run-list")


def test_versions_compare_marks_the_changed_node(browser, site):
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "Two versions")
    paste_json(browser, EXPORT)
    save(browser)
    changed = json.loads(json.dumps(EXPORT))
    changed["nodes"][2]["data"]["op"] = "add"
    paste_json(browser, changed)
    save(browser)
    css(browser, ".object-tools a.historylink").click()
    css(browser, "#compare-form input[type=submit]").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))

    assert "tg-mark-changed" in css(browser, '.tg-node[data-node-id="3"]').get_attribute("class")
    assert '+        "op": "add"' in css(browser, "#json-diff").text
    screenshot(browser, "compare")


def test_layout_of_a_100_node_workflow(browser, site):
    """Benchmark: prints the browser's layout time of a 100-node, 120-edge workflow, then
    opens it read-only and checks its labels are readable and it pans and zooms."""
    nodes = [{"id": f"n{i}", "type": "number", "data": {"value": i}} for i in range(100)]
    edges = [{"source": f"n{i // 2}", "target": f"n{i}"} for i in range(1, 100)]
    edges += [{"source": f"n{i}", "target": f"n{i + 7}"} for i in range(10, 31)]
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "A hundred nodes")
    paste_json(browser, {"nodes": nodes, "edges": edges})
    timings = browser.execute_script("""
        const editor = window.thaiyyalEditor.editor;
        const runs = [];
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          editor.autoLayout();
          runs.push(performance.now() - t0);
        }
        return runs;""")
    best = min(timings)
    print(f"\n100-node layout and render in Chromium: best {best:.0f} ms, "
          f"runs {[round(t) for t in timings]} ms (the first is cold)")
    screenshot(browser, "layout-100")
    assert best < 500
    assert timings[0] < 500  # the first, cold run too

    # read-only, on its version page: opened at a zoom where the labels can be read
    wait_problems(browser, "Valid")
    save(browser)
    browser.get(browser.current_url.replace("/change/", "/versions/1/"))
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".tg-node")) == 100
    drawn_ms = float(css(browser, "[data-graph]").get_attribute("data-render-ms"))
    print(f"100-node read-only graph, layout and first draw: {drawn_ms:.0f} ms")
    assert drawn_ms < 500
    stage = css(browser, ".tg-stage")
    assert stage.size["height"] > 520  # the frame grew with the graph
    browser.execute_script("arguments[0].scrollIntoView()", stage)
    # the size a title is drawn at on the screen: its font size times the drawing's scale
    title_px = """
        const t = document.querySelector('.tg-node[data-node-id="n0"] .tg-title');
        return parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;"""
    assert browser.execute_script(title_px) >= 9
    first = css(browser, '.tg-node[data-node-id="n0"] .tg-box').rect
    frame = stage.rect
    assert frame["x"] <= first["x"]
    assert first["x"] + first["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= first["y"]
    assert first["y"] + first["height"] <= frame["y"] + frame["height"]
    screenshot(browser, "graph-100")
    # pan by dragging the background; the +/- buttons zoom; Fit shows the whole workflow
    viewport = css(browser, ".tg-viewport")
    before = viewport.get_attribute("transform")
    corner = (6 - stage.size["width"] // 2, 6 - stage.size["height"] // 2)  # background
    ActionChains(browser).move_to_element_with_offset(stage, *corner) \
        .click_and_hold().move_by_offset(150, 100).release().perform()
    panned = viewport.get_attribute("transform")
    assert panned != before
    assert panned.endswith("scale(0.75)")
    css(browser, ".tg-tools button[title='Zoom in']").click()
    assert browser.execute_script(title_px) > 9 * 1.2
    browser.find_element(By.XPATH, "//div[@class='tg-tools']/button[text()='Fit']").click()
    assert browser.execute_script(title_px) < 9  # the whole of it: too small to read


def test_a_view_only_user_sees_the_workflow_as_a_graph(browser, site):
    open_editor(browser, site.base + "/admin/workflows/workflow/add/", "Seen by a viewer")
    paste_json(browser, BRANCHES)
    wait_problems(browser, "Valid")
    save(browser)
    change_url = browser.current_url
    log_in(browser, site, "viewer")
    try:
        browser.get(change_url)
        wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-graph][data-ready]"))
        assert len(browser.find_elements(By.CSS_SELECTOR, ".tg-node")) == 7
        assert not browser.find_elements(By.CSS_SELECTOR, ".te-editor, textarea[name=definition]")
        assert browser.execute_script("return window.thaiyyalEditor === undefined")
        assert json.loads(css(browser, ".field-current_definition pre").text) == BRANCHES
        browser.execute_script("document.querySelector('.tg-graph').scrollIntoView()")
        screenshot(browser, "workflow-view-only")
    finally:
        log_in(browser, site, "root")
