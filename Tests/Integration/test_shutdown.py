"""SIGINT/SIGTERM: stop accepting, end in-flight streams, exit 0."""
import json
import signal

from conftest import MODEL_ID, RunningServer, raw_connection


def test_sigint_with_a_stream_in_flight(stop_token_bias):
    own = RunningServer()
    try:
        body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Go"}], "stream": True,
                           "logit_bias": stop_token_bias}).encode()
        sock = raw_connection(own)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        while received.count(b"data: ") < 2:
            chunk = sock.recv(4096)
            assert chunk
            received += chunk
        own.process.send_signal(signal.SIGINT)
        # The server ends the stream and closes the connection.
        while chunk:
            chunk = sock.recv(65536)
        sock.close()
        assert own.wait_exit(30) == 0
        assert any("shutting down" in line for line in own.log)
    finally:
        own.stop()
