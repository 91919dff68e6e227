"""curl against glmserve, including `curl -N` streaming."""
import json
import subprocess

from conftest import MODEL_ID


def curl(*args: str) -> str:
    return subprocess.run(["curl", "-sS", "--max-time", "60", *args], check=True, capture_output=True,
                          text=True).stdout


def test_curl_non_streaming(server):
    body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5})
    reply = json.loads(curl(server.base_url + "/v1/chat/completions", "-H", "Content-Type: application/json",
                            "-d", body))
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["role"] == "assistant"


def test_curl_streaming(server, stop_token_bias):
    body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5,
                       "stream": True, "stream_options": {"include_usage": True}, "logit_bias": stop_token_bias})
    output = curl("-N", server.base_url + "/v1/chat/completions", "-H", "Content-Type: application/json",
                  "-d", body)
    events = [block for block in output.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events), output
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event[len("data: "):]) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5


def test_curl_cors_preflight(server):
    head = curl("-i", "-X", "OPTIONS", server.base_url + "/v1/chat/completions", "-H", "Origin: http://localhost:3000",
                "-H", "Access-Control-Request-Method: POST", "-H", "Access-Control-Request-Headers: authorization")
    assert head.startswith("HTTP/1.1 204")
    assert "Access-Control-Allow-Origin: http://localhost:3000" in head
