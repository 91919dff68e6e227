"""Claude Code's side: the Anthropic Messages API (`/v1/messages`)."""
import json
import subprocess

from conftest import http

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 8, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}]}


def test_messages_whole(server):
    reply = http("POST", server.base_url + "/v1/messages", BODY)
    assert reply.status_code == 200, reply.text
    message = reply.json()
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-sonnet-4-5"
    assert message["stop_reason"] in ("end_turn", "max_tokens")
    assert message["usage"]["output_tokens"] <= 8


def test_messages_streamed_with_curl(server):
    output = subprocess.run(
        ["curl", "-sSN", "--max-time", "60", server.base_url + "/v1/messages?beta=true", "-H", "x-api-key: any",
         "-H", "anthropic-version: 2023-06-01", "-d", json.dumps({**BODY, "stream": True})],
        check=True, capture_output=True, text=True).stdout
    events = [block.split("\n")[0] for block in output.split("\n\n") if block]
    assert events[0] == "event: message_start"
    assert events[-1] == "event: message_stop"
    assert "event: message_delta" in events


def test_count_tokens(server):
    reply = http("POST", server.base_url + "/v1/messages/count_tokens",
                 {"model": "m", "messages": [{"role": "user", "content": "Hello"}]})
    assert reply.status_code == 200 and reply.json()["input_tokens"] > 0


def test_invalid_request_is_anthropic_shaped(server):
    reply = http("POST", server.base_url + "/v1/messages", {"model": "m", "messages": "nope", "max_tokens": 5})
    assert reply.status_code == 400
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "invalid_request_error"
