"""Starts one real `glmserve serve` on the tiny fixture model for the whole test session.

GLMSERVE_BIN names the binary (Scripts/test.sh sets it to the release build). The server listens on a free
loopback port (`--port 0`); the port is read from its "listening on" log line.
"""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import urllib.error
import urllib.request

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "Tests" / "Fixtures" / "models" / "tiny-chat-bf16"
MODEL_ID = "tiny-chat-bf16"
# Short timeouts so the slow-client cases finish quickly.
REQUEST_TIMEOUT = 1.0


class Reply:
    """Status and body of an HTTP exchange."""

    def __init__(self, status_code: int, text: str):
        self.status_code = status_code
        self.text = text

    def json(self):
        return json.loads(self.text)


def http(method: str, url: str, json_body=None, content: bytes | None = None, timeout: float = 60) -> Reply:
    """One request with the standard library (error statuses are returned, not raised)."""
    data = content if content is not None else (json.dumps(json_body).encode() if json_body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read().decode())


def glmserve_binary() -> str:
    path = os.environ.get("GLMSERVE_BIN")
    if not path:
        pytest.fail("set GLMSERVE_BIN to the glmserve binary (Scripts/test.sh does this)")
    return path


class RunningServer:
    """A glmserve process; `base_url` is http://127.0.0.1:PORT."""

    def __init__(self, *extra_args: str, env: dict | None = None, model: Path = MODEL_DIR):
        args = [glmserve_binary(), "serve", "--model", str(model), "--port", "0", "--ctx-size", "4096", "--parallel", "4",
                "--request-timeout", str(REQUEST_TIMEOUT), "--idle-timeout", "10", *extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})})
        self.log: list[str] = []
        port_found = threading.Event()
        self.port = None

        def drain():
            for line in self.process.stderr:
                self.log.append(line.rstrip("\n"))
                match = re.search(r"listening on http://\S+ \(port (\d+)\)", line)
                if match and self.port is None:
                    self.port = int(match.group(1))
                    port_found.set()
            port_found.set()

        self.drain_thread = threading.Thread(target=drain, daemon=True)
        self.drain_thread.start()
        if not port_found.wait(60) or self.port is None:
            self.process.kill()
            raise RuntimeError("glmserve did not start:\n" + "\n".join(self.log))
        self.base_url = f"http://127.0.0.1:{self.port}"

    def wait_exit(self, timeout: float = 30) -> int:
        """Waits for the process to end and for its log to be read completely."""
        code = self.process.wait(timeout)
        self.drain_thread.join(timeout)
        return code

    def stop(self) -> int:
        """SIGTERM, then the exit code (a graceful shutdown exits 0)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.wait_exit(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode


@pytest.fixture(scope="session")
def server():
    running = RunningServer()
    yield running
    code = running.stop()
    assert code == 0, "glmserve did not exit cleanly:\n" + "\n".join(running.log[-30:])


@pytest.fixture(scope="session")
def stop_token_bias(server) -> dict:
    """A logit_bias banning every stop token, so a request runs to max_tokens."""
    config = json.loads((MODEL_DIR / "generation_config.json").read_text())
    ids = set(config["eos_token_id"])
    for name in ["<|endoftext|>", "<|user|>", "<|observation|>", "<|system|>", "<|assistant|>"]:
        tokens = http("POST", server.base_url + "/tokenize", {"content": name}).json()["tokens"]
        if len(tokens) == 1:
            ids.add(tokens[0])
    return {str(i): -100 for i in ids}


def assert_healthy(server: RunningServer) -> None:
    """/health answers and a normal chat completion succeeds."""
    assert server.process.poll() is None, "the server died:\n" + "\n".join(server.log[-30:])
    health = http("GET", server.base_url + "/health", timeout=30)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    reply = http("POST", server.base_url + "/v1/chat/completions", timeout=60,
                 json_body={"model": MODEL_ID, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4})
    assert reply.status_code == 200, reply.text
    assert reply.json()["object"] == "chat.completion"


def raw_connection(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def read_status(sock: socket.socket) -> int:
    """Reads until the status line is complete and returns the status code."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else -1
