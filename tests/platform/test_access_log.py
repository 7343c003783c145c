"""The access log's atoms, computed on demand, format exactly as gunicorn's own table,
for the project's format and for any other an operator may set."""

from __future__ import annotations

import datetime
import logging
import re

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from thaiyyal.access_log import _QUICK, AccessLogger

OURS = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s'
EVERY_ATOM = " ".join(f"%({k})s" for k in "hlutrsmUqHbBfaTDMLp")


class _Response:
    def __init__(self, status: str, sent: int | None) -> None:
        self.status = status
        self.sent = sent
        self.headers = [("Content-Type", "application/json"), ("X-Run-Id", 'a"b')]


class _Request:
    headers = [("HOST", "127.0.0.1:8000"), ("USER-AGENT", 'curl/8 "quoted"'),
               ("AUTHORIZATION", "Token abc")]


def _environ(path: str, query: str = "") -> dict:
    uri = path + (f"?{query}" if query else "")
    return {"REMOTE_ADDR": "127.0.0.9", "REQUEST_METHOD": "POST", "RAW_URI": uri,
            "PATH_INFO": path, "QUERY_STRING": query, "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_USER_AGENT": 'curl/8 "quoted"', "HTTP_REFERER": "http://x/"}


def _line(logger: Logger, fmt: str, resp, env) -> str:
    took = datetime.timedelta(seconds=1, microseconds=234567)
    logger.cfg.set("access_log_format", fmt)
    record = []

    class _Keep(logging.Handler):
        def emit(self, r: logging.LogRecord) -> None:
            record.append(r.getMessage())

    logger.access_log.handlers = [_Keep()]
    logger.access(resp, _Request(), env, took)
    return record[-1]


@pytest.fixture
def loggers():
    cfg = Config()
    cfg.set("accesslog", "-")
    return AccessLogger(cfg), Logger(cfg)


@pytest.mark.parametrize("fmt", [OURS, EVERY_ATOM, '%({user-agent}i)s %({X-RUN-ID}o)s '
                                 '%({remote_addr}e)s %({missing}i)s %(nope)s'])
@pytest.mark.parametrize("path", ["/api/v1/workflow/execute", "/api/v1/workflows/7/execute"])
@pytest.mark.parametrize("sent", [1234, None])
def test_lines_are_gunicorns_own(loggers, fmt, path, sent):
    ours, gunicorns = loggers
    resp, env = _Response("200 OK", sent), _environ(path, "a=1")
    mine = _line(ours, fmt, resp, env)
    theirs = _line(gunicorns, fmt, resp, env)
    if "%(t)s" in fmt:  # a timestamp to the second: the two lines may straddle one
        mine, theirs = (re.sub(r"\[[^]]+\]", "[t]", x) for x in (mine, theirs))
    assert mine == theirs


def test_webhook_secrets_are_left_out_of_quick_and_full_atoms(loggers):
    ours, _ = loggers
    env = _environ("/api/v1/hooks/s3cr3t-value", "x=1")
    line = _line(ours, OURS + " %(U)s", _Response("404 Not Found", 2), env)
    assert "s3cr3t" not in line
    assert '"POST /api/v1/hooks/<secret>?x=1 HTTP/1.1" 404 2 1234ms' in line
    assert line.endswith(" /api/v1/hooks/<secret>")


def test_only_the_atoms_the_format_names_are_built(loggers, monkeypatch):
    ours, _ = loggers
    built = []
    monkeypatch.setattr(AccessLogger, "atoms", lambda *a: built.append(a) or {})
    _line(ours, OURS, _Response("200 OK", 5), _environ("/healthz"))
    assert built == []  # every atom of the project's format is a quick one
    assert set("hrsbMp") <= set(_QUICK)
    _line(ours, "%(a)s", _Response("200 OK", 5), _environ("/healthz"))
    assert len(built) == 1
    assert isinstance(SafeAtoms({}), dict)
