"""The README's and docs' shell blocks, run as a new user would after `make run`.

A sandbox stands in for a fresh checkout: its own directory (the repository's files linked
in, so outputs such as `> cpu.folded` land in the sandbox), its own var/ and SQLite
database, the virtualenv's bin on PATH ("once the venv is active"), the demo user and
workflow from `create_demo`, and a server started as docs/performance.md says (profiling
on). Every command of every block is then run, in order, block by block:

- `curl` lines go to that server (its port instead of 8080; `seconds=30` profiles take 1 s)
  and must answer 2xx;
- `thaiyyal serve` and `gunicorn` lines start for real on a free loopback port (their probe
  listener on another), must become ready, and are stopped; `thaiyyal worker` and
  `thaiyyal scheduler` start for real, must log that they are ready, and are stopped;
- `make X` lines must name a target (`make -n X`); benchmark `pytest` lines must collect;
  measurement scripts run shortened (`probe_latency.py --run-seconds 3 --samples 2`);
- lines for tools outside the project (go, kubectl, docker, wrk, ab, k6, ...) or that
  write outside the sandbox are listed in EXTERNAL with the reason, and checked only for
  the files they name.

A block this file does not know how to run fails the test: a new command in the docs is
either runnable here or explicitly set aside.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.platform.serving import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
        "deploy/k8s/README.md"]

#: first word -> why it is not run here (what it needs is outside the project)
EXTERNAL = {
    "go": "Go's pprof tool", "flamegraph.pl": "Brendan Gregg's FlameGraph scripts",
    "speedscope": "speedscope (npm)", "ab": "apache2-utils", "wrk": "wrk",
    "k6": "k6", "kubectl": "a Kubernetes cluster", "docker": "Docker",
    "deploy/loadtest/ab.sh": "apache2-utils (ab)", "apt-get": "root and the network",
    "install": "writes to /etc", "createdb": "creates a database outside the test's",
    "locust": "a 2-minute load test (tests/deploy/test_locust_smoke.py runs it briefly)",
    "promtool": "Prometheus (check config reads /etc/prometheus/; .ci/run installs it)",
}


@dataclass
class Command:
    doc: str
    line: str


def shell_blocks(doc: str) -> Iterator[str]:
    text = (ROOT / doc).read_text()
    for match in re.finditer(r"```(sh|bash|shell|console)\n(.*?)```", text, re.S):
        yield match.group(2)


def commands(block: str) -> list[str]:
    """Logical command lines: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    found = []
    for line in joined.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line and not line.startswith("#"):
            found.append(line)
    return found


def split_env(line: str) -> tuple[list[str], list[str]]:
    words = shlex.split(line)
    env = []
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        env.append(words.pop(0))
    return env, words


def plan(line: str, port: int) -> str | None:
    """The bash to run for one documented command, or None when it is EXTERNAL."""
    line = line.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    if line.startswith("export DATABASE_URL="):
        return None  # the reader's own PostgreSQL database (created by the line before)
    if line.startswith("export ") or re.match(r"^[A-Z_]+=\.\.\.$", line):
        return None if line.endswith("=...") else line
    env, words = split_env(line)
    program = words[0] if words else ""
    if program == "promtool" and "config" not in words and shutil.which("promtool"):
        return line
    if program in EXTERNAL:
        return None
    env = [_placeholder(e) for e in env]
    prefix = " ".join(shlex.quote(e) for e in env)
    if program == "make":
        return f"make -n {' '.join(words[1:])} >/dev/null"
    if program in ("thaiyyal", ".venv/bin/thaiyyal") and words[1:2] == ["serve"]:
        return _aside(f"{prefix} serve_check thaiyyal {_rebind(words[1:])}")
    if program in ("thaiyyal", ".venv/bin/thaiyyal") and words[1:2] == ["worker"]:
        return f"{prefix} process_check ' ready.' {line[len(' '.join(env)):].strip()}"
    if program in ("thaiyyal", ".venv/bin/thaiyyal") and words[1:2] == ["scheduler"]:
        return f"{prefix} process_check 'beat: Starting' {line[len(' '.join(env)):].strip()}"
    if program == "gunicorn":
        return _aside(f"{prefix} serve_check gunicorn {_rebind(words[1:])}")
    if program in (".venv/bin/pytest", "pytest"):
        return _aside(f"{line} --collect-only -q >/dev/null")
    if words[:2] == ["python", "deploy/loadtest/probe_latency.py"]:
        # the measurement, shortened (its own database and server)
        return _aside(f"{line} --run-seconds 1 --samples 1 --timeout 0.5 --slow-sockets 2 "
                      ">/dev/null")
    if words[:2] == ["python", "deploy/loadtest/bench_queue.py"]:
        # the measurement, shortened (as written it queues 120 runs and paces load for 30 s)
        return _aside("python deploy/loadtest/bench_queue.py --runs 6 --paced 2 --branches 20 "
                      ">/dev/null")
    if program == ".venv/bin/pytest-benchmark":
        return ".venv/bin/pytest-benchmark compare --help >/dev/null"
    if program == "curl":
        line = line.replace("seconds=30", "seconds=1").replace("curl -s ", "curl -sf ")
        return line
    if words[1:3] == ["manage", "createsuperuser"]:
        return line + " --noinput"  # DJANGO_SUPERUSER_PASSWORD is set: no prompt
    return f"{prefix} {shlex.join(words)}" if prefix else line


#: what plan() puts before a command that stands alone (its own port, database or pytest
#: run) and that no later line needs: run_doc runs it beside the rest of its document
ASIDE = "aside: "


def _aside(command: str) -> str:
    return ASIDE + command


def _placeholder(assignment: str) -> str:
    name, value = assignment.split("=", 1)
    if "..." in value:
        value = {"SECRET_KEY": "docs-test-" + "s" * 50}.get(name, os.environ.get(
            "DOCS_TEST_" + name, ""))
    return f"{name}={value}"


def _rebind(args: list[str]) -> str:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--bind":
            skip = True
            continue
        out.append(arg)
    return shlex.join(out)


PREAMBLE = r"""
set -eo pipefail
free_port() {
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
serve_check() {  # start a server on a free loopback port, wait until ready, stop it
  local port log pid
  port=$(free_port)
  log=$(mktemp)
  # the probe listener too gets a free port (its default, 8081, is the sandbox server's)
  THAIYYAL_PROBE_BIND="127.0.0.1:$(free_port)" "$@" --bind "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then
      kill -TERM "$pid"; wait "$pid" || true; return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.2
  done
  cat "$log" >&2; kill -KILL "$pid"; return 1
}
process_check() {  # start a long-running process, wait for PATTERN in its log, stop it
  local pattern=$1 log pid; shift
  log=$(mktemp)
  "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if grep -q "$pattern" "$log"; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true; wait "$pid" || true; return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.2
  done
  cat "$log" >&2; kill -KILL "$pid"; return 1
}
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    home = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name not in {"var", ".git", "test-artifacts"}:
            (home / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("THAIYYAL_", "DATABASE_URL", "DJANGO_", "DEBUG", "SECRET_KEY"))}
    db = f"sqlite:///{home / 'var' / 'thaiyyal.sqlite3'}"
    env.update({"PATH": f"{BIN}:{env.get('PATH', '')}", "THAIYYAL_VAR_DIR": str(home / "var"),
                "DJANGO_SUPERUSER_PASSWORD": "ops-password-1", "DOCS_TEST_DATABASE_URL": db,
                "THAIYYAL_METRICS_TOKEN": "docs-metrics-token"})
    run = {"cwd": home, "env": env, "capture_output": True, "text": True, "timeout": 300}
    # what `make run` does before serving (DEBUG=1 is its spelling of local use)
    local = {**env, "DEBUG": "1"}
    subprocess.run(["thaiyyal", "manage", "migrate", "--noinput"], **{**run, "env": local},
                   check=True)
    demo = subprocess.run(["thaiyyal", "manage", "create_demo"], **{**run, "env": local},
                          check=True).stdout
    env["TOKEN"] = re.search(r"API token:\s+(\S+)", demo).group(1)
    # the server docs/performance.md starts: profiling on, as in its first block
    port = free_port()
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        ["thaiyyal", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"], cwd=home,
        env={**env, "THAIYYAL_PPROF": "1", "THAIYYAL_SILK": "1",
             "THAIYYAL_PROBE_BIND": f"127.0.0.1:{free_port()}"}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        subprocess.run(["bash", "-c", PREAMBLE + f"for _ in $(seq 1 300); do curl -sf "
                        f"http://127.0.0.1:{port}/readyz >/dev/null && exit 0; sleep 0.2; done;"
                        " exit 1"], **run, check=True)
        yield {"home": home, "env": env, "port": port, "run": run}
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()


def run_doc(doc: str, sandbox: dict) -> tuple[list[str], list[str], str | None]:
    """Run `doc`'s blocks in order, as a reader of that document would: what one block
    exports, the next sees. A command plan() sets aside starts, once the rest of its block
    has run, beside what follows (the document's servers, pytest collections and shortened
    measurements overlap); each must succeed by the document's end. Returns (lines run,
    lines set aside, the first failure)."""
    state = sandbox["home"] / f"state-{doc.replace('/', '-')}.sh"
    state.write_text("")
    ran, set_aside, started = [], [], []
    try:
        for block in shell_blocks(doc):
            lines, beside = [], []
            for line in commands(block):
                planned = plan(line, sandbox["port"])
                if planned is None:
                    set_aside.append(f"{doc}: {line}")
                elif planned.startswith(ASIDE):
                    beside.append(planned[len(ASIDE):])
                else:
                    lines.append(f"echo '+ {doc}' >&2; {planned}")
            if lines:
                script = "\n".join([PREAMBLE, f"source {state}", *lines,
                                    f"export -p > {state}"])
                done = subprocess.run(["bash", "-c", script], **sandbox["run"])
                if done.returncode != 0:
                    return ran, set_aside, (
                        f"a block of {doc} failed:\n{block}\n--- stdout\n"
                        f"{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
            started += [(command, start_beside(command, state, sandbox["run"]))
                        for command in beside]
            ran.extend(lines + beside)
        return ran, set_aside, wait_beside(doc, started)
    finally:
        for _, process in started:
            if process.poll() is None:
                process.kill()


def start_beside(command: str, state: Path, run: dict) -> subprocess.Popen:
    """`command` in a shell of its own, with the state its document has reached."""
    return subprocess.Popen(["bash", "-c", "\n".join([PREAMBLE, f"source {state}", command])],
                            cwd=run["cwd"], env=run["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_beside(doc: str, started: list[tuple[str, subprocess.Popen]]) -> str | None:
    """The first failure among the commands started beside the rest, once all ended."""
    failures = []
    for command, process in started:
        output, _ = process.communicate(timeout=300)
        if process.returncode != 0:
            failures.append(f"a command of {doc} failed:\n{command}\n--- output\n"
                            f"{output[-3000:]}")
    return failures[0] if failures else None


def test_every_shell_block_in_the_docs_runs(sandbox):
    # The documents side by side (each in order): most of the time is waiting for servers,
    # workers and fresh databases to start, not CPU.
    with ThreadPoolExecutor(max_workers=len(DOCS)) as pool:
        outcomes = list(pool.map(lambda doc: run_doc(doc, sandbox), DOCS))
    failures = [failure for _, _, failure in outcomes if failure]
    assert not failures, "\n\n".join(failures)
    ran = [line for lines, _, _ in outcomes for line in lines]
    set_aside = [line for _, lines, _ in outcomes for line in lines]
    print(f"\n{len(ran)} documented commands ran; {len(set_aside)} set aside (EXTERNAL)")
    assert len(ran) >= 40


def test_set_aside_commands_name_files_that_exist():
    for doc in DOCS:
        for block in shell_blocks(doc):
            for line in commands(block):
                for word in shlex.split(line):
                    if re.match(r"^(deploy|examples|docs|tests)/[\w./-]+$", word):
                        assert (ROOT / word).exists(), f"{doc}: {line}: no {word}"


def test_links_point_at_files_the_repository_has():
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            assert ((ROOT / doc).parent / target).exists(), f"{doc} links to missing {target}"


def test_docs_stand_alone():
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for outside in ("DESIGN", "../shared", "/work/"):
            assert outside not in text, f"{doc} refers to {outside!r}, outside the repository"


#: management commands the docs name only in prose, which
#: tests/platform/test_cli.py::test_commands_run_locally_in_a_checkout_make_run_set_up runs
#: as written (the shell blocks run the rest)
RUN_BY_THE_CLI_TEST = {"migrate", "create_demo", "reap_runs", "prune_runs", "credential_key",
                       "rotate_credentials", "schedule_workflow", "axes_reset"}


def test_every_management_command_the_docs_name_is_run_somewhere():
    manage = re.compile(r"thaiyyal manage ([a-z_]+)")
    in_blocks = {name for doc in DOCS for block in shell_blocks(doc)
                 for line in commands(block) for name in manage.findall(line)}
    named = {name for doc in DOCS for name in manage.findall((ROOT / doc).read_text())}
    assert "credential_key" in named - in_blocks  # prose only: the case this is about
    assert named - in_blocks - RUN_BY_THE_CLI_TEST == set()


#: Files with a reference outside the repository that a change in progress elsewhere
#: removes. Each must still have one (so an entry is dropped once it is fixed).
OUTSIDE_REFERENCES_PENDING: set[str] = set()
#: Where the project's own text lives: code, templates, configs, deploy files, the docs.
SOURCES = ("engine", "workflows", "thaiyyal", "deploy", "templates", "frontend/src", "docs",
           "examples", ".ci", "tests", "Makefile", "Dockerfile", "pyproject.toml", "README.md")
OUTSIDE = re.compile(r"\bDESIGN\b|\.\./shared\b")


def test_code_and_configs_stand_alone():
    """No comment, docstring, config or doc names a design document or a folder outside
    the repository."""
    found = {}
    for top in SOURCES:
        paths = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for path in paths:
            name = path.relative_to(ROOT).as_posix()
            if not path.is_file() or "__pycache__" in name or name == "tests/docs/" \
                    "test_doc_commands.py" or path.suffix in (".png", ".pyc", ".sqlite3"):
                continue
            hits = [n for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                    if OUTSIDE.search(line)]
            if hits:
                found[name] = hits
    assert set(found) == OUTSIDE_REFERENCES_PENDING, found


def test_a_failing_command_fails_its_block(sandbox):
    """The harness can fail: a command that does not work stops its block."""
    script = "\n".join([PREAMBLE, plan("thaiyyal manage no_such_command", sandbox["port"]),
                        "echo never"])
    done = subprocess.run(["bash", "-c", script], **sandbox["run"])
    assert done.returncode != 0
    assert "never" not in done.stdout
    assert plan("thaiyyal serve --bind 0.0.0.0:8080 --workers 4", 1) == (
        ASIDE + " serve_check thaiyyal serve --workers 4")
    # and one run beside the rest fails its document, whatever ends first
    state = sandbox["home"] / "state-empty.sh"
    state.write_text("")
    started = [(c, start_beside(c, state, sandbox["run"]))
               for c in ("sleep 0.3; echo late; false", "true")]
    failure = wait_beside("a.md", started)
    assert failure is not None
    assert "sleep 0.3; echo late; false" in failure
    assert "late" in failure
    assert wait_beside("b.md", [("true", start_beside("true", state, sandbox["run"]))]) is None
