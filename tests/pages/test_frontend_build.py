"""The committed pages' JavaScript and CSS (workflows/static/workflows/dist/) are the build
of frontend/src and its lockfile: `make frontend` records the sha256 of both in
frontend/build-record.json, and this checks the record against the checkout, with no Node."""

from __future__ import annotations

import re
from pathlib import Path

from frontend import build_record

ROOT = Path(__file__).resolve().parents[2]

REBUILD = "rebuild and record it: make frontend (Node 20, npm), and commit dist/ and the record"


def test_the_sources_are_those_the_committed_build_was_made_from():
    assert build_record.current()["sources"] == build_record.recorded()["sources"], REBUILD


def test_the_built_files_are_those_the_build_wrote():
    assert build_record.current()["built"] == build_record.recorded()["built"], REBUILD


def test_the_record_covers_the_sources_and_every_built_file_a_page_loads():
    recorded = build_record.recorded()
    assert {"frontend/src/graph.js", "frontend/src/editor.js", "frontend/package-lock.json"} \
        <= set(recorded["sources"])
    loaded = {name for page in (ROOT / "templates").rglob("*.html")
              for name in re.findall(r"'workflows/dist/([^']+)'", page.read_text())}
    assert loaded == {"graph-page.js", "editor-page.js", "pages.css"}
    assert {f"workflows/static/workflows/dist/{name}" for name in loaded} \
        <= set(recorded["built"])


def test_a_changed_source_no_longer_matches(tmp_path, monkeypatch):
    """The check can fail: a source edited after the build differs from the record."""
    source = tmp_path / "frontend"
    (source / "src").mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        (source / name).write_bytes((ROOT / "frontend" / name).read_bytes())
    for path in (ROOT / "frontend/src").iterdir():
        (source / "src" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(build_record, "FRONTEND", source)
    monkeypatch.setattr(build_record, "ROOT", tmp_path)
    (tmp_path / "dist").mkdir()
    monkeypatch.setattr(build_record, "DIST", tmp_path / "dist")
    before = build_record.current()["sources"]
    (source / "src" / "graph.js").write_text("// edited after the build\n", encoding="utf-8")
    after = build_record.current()["sources"]
    assert before != after
    assert {k for k in before if before[k] != after[k]} == {"frontend/src/graph.js"}
