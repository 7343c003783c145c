"""`Transfer-Encoding: chunked` bodies through real gunicorn: read, not taken as empty;
over the size limit a 413; cut short or malformed a 400; all JSON."""

from __future__ import annotations

import json
import socket

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.api.conftest import ADD
from tests.platform.serving import database_url, serve, server_environment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup, django_db_blocker):
    tmp = tmp_path_factory.mktemp("chunked")
    with django_db_blocker.unblock():
        env = server_environment(database_url(connection.settings_dict), tmp / "var",
                                 THAIYYAL_MAX_REQUEST_BYTES="4096")
    with serve(env, tmp / "server.log", "--workers", "1") as running:
        yield running


@pytest.fixture
def token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


def _send(server, path: str, token: str, chunks: list[bytes], raw_tail: bytes = b"0\r\n\r\n"
          ) -> tuple[int, dict]:
    host, port = server.base.removeprefix("http://").split(":")
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + raw_tail
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header, _, content = answer.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    if b"transfer-encoding: chunked" in header.lower():
        content = _dechunk(content)
    return status, json.loads(content)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def test_a_chunked_workflow_is_read_and_run(server, token):
    text = json.dumps(ADD).encode()
    chunks = [text[i:i + 7] for i in range(0, len(text), 7)]

    status, body = _send(server, "/api/v1/workflow/execute", token, chunks)

    assert status == 200, body
    assert body["results"]["final_output"] == 5


def test_a_chunked_body_over_the_limit_is_413(server, token):
    chunks = [b'{"nodes": [], "pad": "' + b"x" * 3000, b"y" * 3000 + b'"}']

    status, body = _send(server, "/api/v1/workflow/validate", token, chunks)

    assert status == 413, body
    assert body["error"].startswith("request body too large")


def test_a_malformed_chunked_body_is_a_json_400(server, token):
    status, body = _send(server, "/api/v1/workflow/validate", token, [b'{"nodes": ['],
                         raw_tail=b"zz\r\nnot a chunk\r\n")

    assert status == 400, body
    assert body["error"] == "request body incomplete"


def test_a_chunked_body_on_a_server_that_does_not_mark_its_input_terminated_is_a_json_411(
        admin_user):
    from rest_framework.test import APIClient

    from workflows.models import Run

    # Django's test client, like a WSGI server without the extension, sets no
    # wsgi.input_terminated: the body cannot be trusted to end, so it is not read as {}.
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.post("/api/v1/workflow/execute", data=json.dumps(ADD),
                           content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"success": False, "error": "length required", "details": [
        {"path": "$", "message": "this server cannot read a chunked body: send Content-Length"}]}
    assert not Run.objects.exists()
    # the same request with its length is run
    assert client.post("/api/v1/workflow/execute", data=json.dumps(ADD),
                       content_type="application/json").status_code == 200
