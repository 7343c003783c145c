"""The committed pages' JavaScript and CSS (the libraries in workflows/static/vendor/, our
code in workflows/static/workflows/dist/) are the build of frontend/src and its lockfile:
`make frontend` records the sha256 of both in frontend/build-record.json, and this checks
the record against the checkout, with no Node."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from frontend import build_record

ROOT = Path(__file__).resolve().parents[2]

REBUILD = ("rebuild and record it: make frontend (Node 20, npm), and commit vendor/, dist/ "
           "and the record")


def test_the_sources_are_those_the_committed_build_was_made_from():
    assert build_record.current()["sources"] == build_record.recorded()["sources"], REBUILD


def test_the_built_files_are_those_the_build_wrote():
    assert build_record.current()["built"] == build_record.recorded()["built"], REBUILD


def test_the_record_covers_the_sources_and_every_built_file_a_page_loads():
    recorded = build_record.recorded()
    assert {"frontend/src/graph.js", "frontend/src/editor.js", "frontend/package-lock.json"} \
        <= set(recorded["sources"])
    loaded = {name for page in (ROOT / "templates").rglob("*.html")
              for name in re.findall(r"\{% static '([^']+)' %\}", page.read_text())}
    assert loaded == {"vendor/dagre.js", "vendor/codemirror.js", "workflows/dist/graph-page.js",
                      "workflows/dist/editor-page.js", "workflows/dist/pages.css"}
    assert {f"workflows/static/{name}" for name in loaded} == set(recorded["built"])


def test_the_libraries_are_built_apart_from_our_code():
    """dagre and CodeMirror are in static/vendor/, each once; our bundles read them."""
    dist = ROOT / "workflows/static/workflows/dist"
    vendor = ROOT / "workflows/static/vendor"
    assert "ThaiyyalDagre" in (vendor / "dagre.js").read_text()
    assert "ThaiyyalCodeMirror" in (vendor / "codemirror.js").read_text()
    for page in ("graph-page.js", "editor-page.js"):
        ours = (dist / page).read_text()
        assert len(ours) < 40_000, f"{page} carries a library"
        assert "window.ThaiyyalDagre" in ours


def test_a_changed_source_no_longer_matches(tmp_path, monkeypatch):
    """The check can fail: a source edited after the build differs from the record."""
    source = tmp_path / "frontend"
    (source / "src").mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        (source / name).write_bytes((ROOT / "frontend" / name).read_bytes())
    shutil.copytree(ROOT / "frontend/src", source / "src", dirs_exist_ok=True)
    monkeypatch.setattr(build_record, "FRONTEND", source)
    monkeypatch.setattr(build_record, "ROOT", tmp_path)
    for folder in ("dist", "vendor"):
        (tmp_path / folder).mkdir()
    monkeypatch.setattr(build_record, "DIST", tmp_path / "dist")
    monkeypatch.setattr(build_record, "VENDOR", tmp_path / "vendor")
    before = build_record.current()["sources"]
    (source / "src" / "graph.js").write_text("// edited after the build\n", encoding="utf-8")
    after = build_record.current()["sources"]
    assert before != after
    assert {k for k in before if before[k] != after[k]} == {"frontend/src/graph.js"}
