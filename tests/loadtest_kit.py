"""The load-test kit's bench_api.py as a module, for tests that send its workflow (the
one the outside references are compared with) instead of keeping a copy of it."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

KIT = Path(__file__).resolve().parents[1] / "deploy" / "loadtest"


@functools.cache
def bench_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_api", KIT / "bench_api.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
