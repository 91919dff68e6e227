"""Hostile and broken clients never take the server down or disturb other requests."""
import json
import socket
import threading
import time

import openai
import pytest
from conftest import MODEL_ID, RunningServer, assert_healthy, http, raw_connection, read_status


def test_invalid_json(server):
    reply = http("POST", server.base_url + "/v1/chat/completions", content=b'{"messages": [', timeout=30)
    assert reply.status_code == 400
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    assert_healthy(server)


@pytest.mark.parametrize("field,value", [("messages", "hi"), ("max_tokens", "ten"), ("stream", 1),
                                         ("stop", [1, 2]), ("top_k", 1.5), ("logit_bias", [1])])
def test_wrong_types(server, field, value):
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "x"}], field: value}
    reply = http("POST", server.base_url + "/v1/chat/completions", body, timeout=30)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == field
    assert_healthy(server)


def test_ten_megabyte_body(server):
    sock = raw_connection(server)
    size = 10 * 1024 * 1024
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {size}\r\n\r\n".encode())
    try:
        block = b"a" * 65536
        for _ in range(size // len(block)):
            sock.sendall(block)
    except OSError:
        pass   # the server may stop reading once it has answered
    assert read_status(sock) == 413
    sock.close()
    assert_healthy(server)


def test_header_without_end(server):
    sock = raw_connection(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * (100 * 1024))
    assert read_status(sock) == 431
    sock.close()
    # A head that simply stops: answered 408 once the request timeout passes.
    sock = raw_connection(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Partial: ab")
    assert read_status(sock) == 408
    sock.close()
    assert_healthy(server)


def test_half_request_then_wait(server):
    sock = raw_connection(server)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"messages\":")
    assert read_status(sock) == 408
    sock.close()
    assert_healthy(server)


def test_disconnect_mid_stream(server, stop_token_bias):
    body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Go on"}], "stream": True,
                       "logit_bias": stop_token_bias}).encode()
    sock = raw_connection(server)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    received = b""
    while received.count(b"data: ") < 3:
        chunk = sock.recv(4096)
        assert chunk, "stream ended early"
        received += chunk
    cancelled_before = sum("generation cancelled" in line for line in server.log)
    sock.close()
    # The worker logs the cancellation; without it the stream would run on to the end of the context.
    for _ in range(600):
        if sum("generation cancelled" in line for line in server.log) > cancelled_before:
            break
        time.sleep(0.05)
    assert sum("generation cancelled" in line for line in server.log) == cancelled_before + 1, server.log[-5:]
    assert_healthy(server)


def test_thirty_two_concurrent_connections(server):
    results: list = [None] * 32

    def work(i: int):
        try:
            reply = http("POST", server.base_url + "/v1/chat/completions", timeout=120, json_body={
                "model": MODEL_ID, "messages": [{"role": "user", "content": f"request {i}"}], "max_tokens": 4,
                "seed": i, "stream": i % 2 == 0})
            results[i] = reply.status_code
        except Exception as error:  # noqa: BLE001 - reported below
            results[i] = repr(error)

    # 32 idle connections held open at the same time as 32 working ones.
    idle = [raw_connection(server) for _ in range(32)]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    for sock in idle:
        sock.close()
    assert results == [200] * 32
    assert_healthy(server)


def test_api_key_from_environment():
    keyed = RunningServer(env={"GLMSERVE_API_KEY": "test-key"})
    try:
        assert http("GET", keyed.base_url + "/health").status_code == 200
        denied = http("GET", keyed.base_url + "/v1/models")
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=keyed.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
        good = openai.OpenAI(base_url=keyed.base_url + "/v1", api_key="test-key", max_retries=0)
        assert good.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "x"}],
                                            max_tokens=2).object == "chat.completion"
    finally:
        assert keyed.stop() == 0


def test_deeply_nested_json(server):
    deep = "[" * 100_000 + "]" * 100_000
    reply = http("POST", server.base_url + "/v1/chat/completions", content=('{"messages": ' + deep + "}").encode())
    assert reply.status_code == 400
    nested_tool = {"type": "object", "properties": {}}
    for _ in range(400):
        nested_tool = {"type": "object", "properties": {"x": nested_tool}}
    tools = [{"type": "function", "function": {"name": "deep", "parameters": nested_tool}}]
    reply = http("POST", server.base_url + "/v1/chat/completions",
                 {"model": MODEL_ID, "messages": [{"role": "user", "content": "x"}], "tools": tools, "max_tokens": 2})
    assert reply.status_code in (200, 400), reply.text
    assert_healthy(server)


def test_garbage_bytes(server):
    sock = raw_connection(server)
    sock.sendall(bytes(range(256)) * 4 + b"\r\n\r\n")
    assert read_status(sock) == 400
    sock.close()
    assert_healthy(server)
