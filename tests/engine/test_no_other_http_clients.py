"""The engine/egress package is the only code that may open a socket or use an HTTP client.

Any other import of a network client in engine/, workflows/ or thaiyyal/ would bypass the
SSRF guard, the size caps and the deadline, so it fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("engine", "workflows", "thaiyyal")
EGRESS = Path("engine/egress")
ALLOWED = {p.relative_to(ROOT) for p in (ROOT / EGRESS).glob("*.py")}
#: reviewed exceptions: file -> modules it may import, and why. They may use Unix-domain
#: sockets only (checked below): no address family or call that reaches a network.
LOCAL_IPC = {
    # the profiling agent talks to the other gunicorn workers of this host over AF_UNIX
    Path("workflows/profiling/agent.py"): {"socket"},
}
NETWORK_NAMES = {"AF_INET", "AF_INET6", "create_connection", "getaddrinfo",
                 "gethostbyname", "create_server"}
#: reviewed exceptions that serve connections others open (listen, accept), and never
#: open one themselves: none of OUTBOUND_NAMES (checked below).
SERVING = {
    # the gunicorn master's probe port (/healthz, /readyz)
    Path("thaiyyal/probe_listener.py"): {"socket"},
    # wraps the client sockets a gunicorn worker accepted, to bound their reads
    Path("thaiyyal/sync_worker.py"): {"socket"},
}
OUTBOUND_NAMES = {"create_connection", "getaddrinfo", "gethostbyname", "connect",
                  "connect_ex", "sendto"}

#: modules (and their submodules) that open connections
FORBIDDEN = ("requests", "httpx", "urllib3", "urllib.request", "http.client", "aiohttp",
             "socket", "ssl", "pycurl", "smtplib", "ftplib", "telnetlib", "xmlrpc.client",
             "websocket", "websockets", "asyncio.streams")


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def network_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every network-client import in `source`, including
    `from urllib import request`, `from http import client` and import_module("...")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, c) for c in candidates if _forbidden(c)][:1]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            target = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(target, str) and \
                    _forbidden(target):
                found.append((node.lineno, target))
    return found


def network_names(source: str, names: set[str] = NETWORK_NAMES) -> list[tuple[int, str]]:
    """Uses of socket names that reach a network (for files allowed local IPC), or that
    open a connection (for files that only serve)."""
    return [(n.lineno, n.attr) for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Attribute) and n.attr in names]


def python_files() -> list[Path]:
    return sorted(p for d in SCANNED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py")
                  if "migrations" not in p.parts)


def test_only_the_egress_module_imports_network_clients():
    offenders = []
    for path in python_files():
        rel = path.relative_to(ROOT)
        if rel in ALLOWED:
            continue
        source = path.read_text(encoding="utf-8")
        for line, module in network_imports(source):
            if module not in LOCAL_IPC.get(rel, ()) and module not in SERVING.get(rel, ()):
                offenders.append(f"{rel}:{line} imports {module}")
        if rel in LOCAL_IPC:
            offenders += [f"{rel}:{line} uses {name} (local IPC only)"
                          for line, name in network_names(source)]
        if rel in SERVING:
            offenders += [f"{rel}:{line} uses {name} (serving only)"
                          for line, name in network_names(source, OUTBOUND_NAMES)]
    assert not offenders, ("only engine/egress/ may open connections; use "
                           "engine.egress instead:\n" + "\n".join(offenders))


def test_the_scan_covers_the_code_base():
    scanned = {p.relative_to(ROOT) for p in python_files()}
    assert EGRESS / "transport.py" in scanned
    assert ALLOWED <= scanned
    assert Path("engine/nodes/http.py") in scanned


@pytest.mark.parametrize("source", [
    "import requests",
    "import urllib.request",
    "from urllib import request",
    "from urllib.request import urlopen",
    "from http import client",
    "import http.client as hc",
    "import socket",
    "from socket import create_connection",
    "import urllib3.poolmanager",
    "import httpx, json",
    "import ssl",
    "importlib.import_module('socket')",
    "__import__('http.client')",
    "def f():\n    import aiohttp\n",
])
def test_scan_finds_every_form_of_network_import(source):
    assert network_imports(source)


def test_local_ipc_exceptions_are_caught_reaching_for_the_network():
    assert network_names("s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)")
    assert network_names("socket.create_connection(('example.com', 80))")
    assert network_names("s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)") == []


@pytest.mark.parametrize("source", [
    "from http import HTTPStatus",
    "from urllib.parse import urlsplit",
    "import json, ipaddress",
    "from engine import egress",
    "from .socket_names import x",
])
def test_scan_allows_harmless_neighbours(source):
    assert network_imports(source) == []
