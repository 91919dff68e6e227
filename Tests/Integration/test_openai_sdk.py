"""The official `openai` Python package against glmserve (base-URL swap)."""
import openai
import pytest
from conftest import MODEL_ID, http

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_list(client):
    assert [m.id for m in client.models.list().data] == [MODEL_ID]


def test_non_streaming(client):
    completion = client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, max_tokens=8)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL_ID
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 < usage.completion_tokens <= 8 or choice.finish_reason == "stop"
    assert usage.prompt_tokens_details.cached_tokens >= 0
    assert usage.completion_tokens_details.reasoning_tokens >= 0


def test_streaming_with_usage(client, stop_token_bias):
    stream = client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, max_tokens=6, stream=True,
                                            stream_options={"include_usage": True}, logit_bias=stop_token_bias)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"


def test_seeded_request_repeats(client):
    def ask():
        return client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, max_tokens=16, seed=777,
                                              temperature=1.0).choices[0].message.content
    assert ask() == ask()


def test_stop_strings(client, stop_token_bias):
    base = dict(model=MODEL_ID, messages=MESSAGES, max_tokens=24, temperature=0, logit_bias=stop_token_bias)
    full = client.chat.completions.create(**base).choices[0].message.content
    assert len(full) >= 8, full
    stop = full[len(full) // 2: len(full) // 2 + 3]
    expected = full[: full.index(stop)].rstrip()   # trailing whitespace is never sent
    cut = client.chat.completions.create(**base, stop=[stop, "zzz-not-there"])
    assert cut.choices[0].message.content == expected
    assert cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in
                       client.chat.completions.create(**base, stop=stop, stream=True) if c.choices)
    assert streamed == expected


def test_max_tokens_gives_length(client, stop_token_bias):
    completion = client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, max_completion_tokens=3,
                                                logit_bias=stop_token_bias)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 3


def test_tools_accepted(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    completion = client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, tools=tools, tool_choice="auto",
                                                parallel_tool_calls=False, max_tokens=8)
    assert completion.choices[0].finish_reason in ("stop", "length", "tool_calls")
    for call in completion.choices[0].message.tool_calls or []:
        assert call.id and call.function.name


def test_thinking_switch_changes_the_prompt(server, client):
    def prompt(**extra):
        reply = http("POST", server.base_url + "/apply-template", {"messages": MESSAGES, **extra})
        assert reply.status_code == 200
        return reply.json()["prompt"]
    default = prompt()
    off = prompt(chat_template_kwargs={"enable_thinking": False})
    assert default != off
    assert default.endswith("<|assistant|>")
    assert off.endswith("<think></think>") and "/nothink" in off
    assert prompt(thinking={"type": "disabled"}) == off
    # The switch is accepted on a real completion too (the SDK sends it through extra_body).
    completion = client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, max_tokens=4,
                                                extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert completion.choices[0].finish_reason in ("stop", "length")
    # With thinking off nothing is parsed as reasoning.
    assert (completion.choices[0].message.model_extra or {}).get("reasoning_content") is None


def test_errors_are_openai_shaped(client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, temperature="hot")
    assert bad.value.status_code == 400
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as n:
        client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, n=2)
    assert n.value.body["param"] == "n"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_legacy_completions(client, stop_token_bias):
    completion = client.completions.create(model=MODEL_ID, prompt="def add(a, b):", max_tokens=5,
                                           logit_bias=stop_token_bias)
    assert completion.object == "text_completion"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5
    streamed = client.completions.create(model=MODEL_ID, prompt="def add(a, b):", max_tokens=5, stream=True,
                                         temperature=0, logit_bias=stop_token_bias)
    greedy = client.completions.create(model=MODEL_ID, prompt="def add(a, b):", max_tokens=5, temperature=0,
                                       logit_bias=stop_token_bias)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == greedy.choices[0].text
