"""Tool calls on the wire with the real tiny model: forced calls, max_tokens cuts, bad tool shapes."""
import json

from conftest import MODEL_ID, http, raw_connection, read_status

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
NAMED = {"type": "function", "function": {"name": "get_weather"}}


def chat(server, **fields):
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "Weather in Paris?"}], **fields}
    return http("POST", server.base_url + "/v1/chat/completions", body, timeout=120)


def test_named_call_cut_by_max_tokens_is_not_a_call(server, stop_token_bias):
    # The forced `\n<tool_call>get_weather\n` plus at most a token of arguments: the call never closes.
    for thinking in (True, False):
        reply = chat(server, tools=[WEATHER], tool_choice=NAMED, max_tokens=6, logit_bias=stop_token_bias,
                     chat_template_kwargs={"enable_thinking": thinking})
        assert reply.status_code == 200, reply.text
        choice = reply.json()["choices"][0]
        assert choice["finish_reason"] == "length"
        assert not choice["message"].get("tool_calls"), choice
        assert "<tool_call>" not in (choice["message"]["content"] or "")


def test_streamed_cut_call_gets_no_invented_arguments(server, stop_token_bias):
    # Room for the forced `\n<tool_call>get_weather\n` and one more token: the start is sent, the call never ends.
    forced = http("POST", server.base_url + "/tokenize", {"content": "\n<tool_call>get_weather\n"}).json()["tokens"]
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER],
            "tool_choice": NAMED, "max_tokens": len(forced) + 1, "logit_bias": stop_token_bias, "stream": True,
            "chat_template_kwargs": {"enable_thinking": False}}
    reply = http("POST", server.base_url + "/v1/chat/completions", body, timeout=120)
    events = [line[6:] for line in reply.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
             if c.get("choices") and c["choices"][0]["delta"].get("tool_calls")]
    assert calls and calls[0]["function"]["name"] == "get_weather"
    arguments = "".join(call["function"].get("arguments", "") for call in calls)
    assert arguments != "{}" and not arguments.endswith("}")
    assert [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")][-1] == "length"


def test_tool_without_function_is_rejected(server):
    for tools, param in [([{"type": "function"}], "tools[0].function"),
                         ([{"type": "function", "function": {"name": 5}}], "tools[0].function.name"),
                         ([{"type": "function", "function": {"name": "f", "parameters": "x"}}],
                          "tools[0].function.parameters")]:
        reply = chat(server, tools=tools, max_tokens=2)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["param"] == param


def test_thinking_of_the_wrong_type_names_thinking(server):
    reply = chat(server, thinking="off", max_tokens=2)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "thinking"
    assert "'thinking' must be" in reply.json()["error"]["message"]


def test_content_length_beyond_any_integer_is_413(server):
    sock = raw_connection(server)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"1" + b"0" * 23 + b"\r\n\r\n")
    assert read_status(sock) == 413
    sock.close()
