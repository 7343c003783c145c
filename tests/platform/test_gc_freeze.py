"""A gunicorn worker freezes the loaded app out of the garbage collector
(workflows/gunicorn_hooks.py::freeze_loaded_app): full collections then walk only what
requests allocate. Checked in a fresh process loading the app as a worker does (freezing
the test process itself would change every other test's collections)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.platform.serving import ROOT

WORKER = """
import gc, json, time
from thaiyyal.wsgi import application
from workflows.gunicorn_hooks import freeze_loaded_app

def full_collection_ms():
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000

before = min(full_collection_ms() for _ in range(3))
frozen = freeze_loaded_app()
after = min(full_collection_ms() for _ in range(3))
print(json.dumps({"frozen": frozen, "tracked": len(gc.get_objects()),
                  "before_ms": before, "after_ms": after}))
"""


def test_freezing_the_loaded_app_leaves_full_collections_almost_nothing_to_walk():
    env = {k: v for k, v in os.environ.items() if not k.startswith("THAIYYAL_")}
    env.update(DJANGO_SETTINGS_MODULE="thaiyyal.settings", SECRET_KEY="x" * 50,
               THAIYYAL_HTTPS="0")
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{figures}")
    # The app, its URLconf, views and the engine: about 119,000 objects here.
    assert figures["frozen"] > 50_000, figures
    assert figures["tracked"] < 1_000, figures
    assert figures["after_ms"] < figures["before_ms"], figures
