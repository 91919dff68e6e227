"""`response_format` (constrained decoding), logprobs and the remaining sampling fields, against the bundled
GLM-Tiny through the OpenAI SDK, checked with a real JSON Schema validator (`jsonschema`)."""
import json
import math
import struct
import subprocess
import tempfile
from typing import Literal, Optional

import jsonschema
import pydantic
import pytest
from openai import BadRequestError, LengthFinishReasonError, OpenAI

from conftest import REPO, RunningServer, glmserve_binary, http

BUNDLED = REPO / "Models" / "GLM-Tiny"

# Together these use every supported keyword.
SCHEMAS = {
    "person": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 12},
            "age": {"type": "integer"},
            "height": {"type": "number"},
            "member": {"type": "boolean"},
            "nickname": {"type": ["string", "null"], "maxLength": 8},
            "role": {"enum": ["admin", "user", 3]},
            "kind": {"const": "person"},
        },
        "required": ["name", "age", "role", "kind"],
        "additionalProperties": False,
    },
    "lists": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 1, "maxItems": 3},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}], "items": False},
        },
        "required": ["tags", "pair"],
        "additionalProperties": False,
    },
    "choices": {
        "type": "object",
        "properties": {
            "value": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 5}]},
            "shape": {"oneOf": [{"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"],
                                 "additionalProperties": False},
                                {"type": "null"}]},
        },
        "required": ["value", "shape"],
        "additionalProperties": False,
    },
    "tree": {
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "object",
                           "properties": {"id": {"type": "integer"},
                                          "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                           "required": ["id"], "additionalProperties": False}},
    },
    "formats": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
            "day": {"type": "string", "format": "date"},
            "id": {"type": "string", "format": "uuid"},
            "mail": {"type": "string", "format": "email"},
            "at": {"type": "string", "format": "date-time"},
        },
        "required": ["code", "day", "id", "mail", "at"],
        "additionalProperties": False,
    },
    "open": {
        "type": "object",
        "properties": {"title": {"type": "string", "maxLength": 10}},
        "additionalProperties": {"type": "integer"},
        "required": ["title"],
    },
}


@pytest.fixture(scope="module")
def bundled():
    server = RunningServer("--model", str(BUNDLED))
    yield server
    assert server.stop() == 0


def client(server) -> OpenAI:
    return OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


def validator(schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("thinking", [True, False], ids=["thinking", "no-thinking"])
@pytest.mark.parametrize("sampled", [False, True], ids=["greedy", "sampled"])
def test_every_completed_output_validates(bundled, thinking, sampled):
    sdk = client(bundled)
    completed = 0
    for name, schema in SCHEMAS.items():
        extra = {"temperature": 0.8, "seed": 11} if sampled else {"temperature": 0}
        reply = sdk.chat.completions.create(
            model="GLM-Tiny", max_tokens=300,
            messages=[{"role": "user", "content": f"Reply with a {name} as JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
            extra_body={"chat_template_kwargs": {"enable_thinking": thinking}}, **extra)
        choice = reply.choices[0]
        assert choice.finish_reason in ("stop", "length"), choice.finish_reason
        if choice.finish_reason == "stop":
            validator(schema).validate(json.loads(choice.message.content))
            completed += 1
        if thinking and choice.message.content:
            # The reasoning is free text; the document starts after it.
            assert "<think>" not in choice.message.content
    assert completed >= len(SCHEMAS) // 2, f"only {completed} of {len(SCHEMAS)} answers completed"


def test_json_object_and_stream_equal_whole(bundled):
    sdk = client(bundled)
    body = dict(model="GLM-Tiny", max_tokens=150, temperature=0, response_format={"type": "json_object"},
                messages=[{"role": "user", "content": "A JSON object describing a cat."}])
    whole = sdk.chat.completions.create(**body)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in sdk.chat.completions.create(stream=True, **body)
                   if chunk.choices)
    assert text == whole.choices[0].message.content
    if whole.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


class Pet(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=10)
    species: Literal["cat", "dog"]
    age: int
    owner: Optional[str] = pydantic.Field(max_length=12)


def test_sdk_parse_with_a_pydantic_model(bundled):
    parsed = 0
    for thinking in (True, False):
        for prompt in ("Describe a pet.", "Tell me about a dog.", "A cat as JSON."):
            try:
                completion = client(bundled).beta.chat.completions.parse(
                    model="GLM-Tiny", max_tokens=300, temperature=0,
                    messages=[{"role": "user", "content": prompt}], response_format=Pet,
                    extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
            except LengthFinishReasonError as error:
                # Cut off by max_tokens: `length`, never an invalid document with `stop`.
                assert error.completion.choices[0].finish_reason == "length"
                continue
            assert completion.choices[0].finish_reason == "stop"
            assert isinstance(completion.choices[0].message.parsed, Pet)
            parsed += 1
    assert parsed >= 1


def test_cut_off_document_ends_with_length(bundled):
    reply = client(bundled).chat.completions.create(
        model="GLM-Tiny", max_tokens=6, temperature=0,
        messages=[{"role": "user", "content": "A person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMAS["formats"]}},
        extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert reply.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.choices[0].message.content)


def test_unsupported_keyword_is_a_400_naming_it(bundled):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}
    with pytest.raises(BadRequestError) as caught:
        client(bundled).chat.completions.create(
            model="GLM-Tiny", messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}})
    message = caught.value.body["message"]
    assert "multipleOf" in message and "#/properties/n" in message


# MARK: logprobs


def read_logits(path, vocab):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    start, end = header["logits"]["data_offsets"]
    floats = struct.unpack(f"<{(end - start) // 4}f", data[8 + length + start:8 + length + end])
    return [floats[i:i + vocab] for i in range(0, len(floats), vocab)]


def log_softmax(row):
    top = max(row)
    total = math.log(sum(math.exp(v - top) for v in row)) + top
    return [v - total for v in row]


def test_logprobs_match_exact_score_and_stream_equals_whole():
    server = RunningServer("--model", str(BUNDLED), "--exact")
    try:
        body = {"messages": [{"role": "user", "content": "Write a Python function that adds two numbers."}],
                "max_tokens": 10, "temperature": 0, "logprobs": True, "top_logprobs": 5,
                "chat_template_kwargs": {"enable_thinking": False}}
        whole = http("POST", server.base_url + "/v1/chat/completions", body).json()
        entries = whole["choices"][0]["logprobs"]["content"]
        assert len(entries) == whole["usage"]["completion_tokens"] == 10
        for e in entries:
            # Greedy: the chosen token is the most likely one.
            assert e["top_logprobs"][0]["token"] == e["token"] and e["top_logprobs"][0]["logprob"] == e["logprob"]
            assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"]

        sdk = client(server)
        streamed = []
        for chunk in sdk.chat.completions.create(model="GLM-Tiny", stream=True, **{
                k: v for k, v in body.items() if k not in ("chat_template_kwargs",)},
                extra_body={"chat_template_kwargs": {"enable_thinking": False}}):
            if chunk.choices and chunk.choices[0].logprobs:
                streamed += [item.model_dump() for item in chunk.choices[0].logprobs.content]
        # The second request reuses the first's KV cache (its last prompt token is recomputed alone), so its
        # logits may differ from the first's in the last float bits.
        assert [s["token"] for s in streamed] == [e["token"] for e in entries]
        assert all(abs(s["logprob"] - e["logprob"]) < 1e-5 for s, e in zip(streamed, entries))

        # The same prefix through `glmserve score --exact`: log-softmax of its logits.
        prompt = http("POST", server.base_url + "/apply-template", body).json()["prompt"]
        prompt_ids = http("POST", server.base_url + "/tokenize", {"content": prompt}).json()["tokens"]
        generated = []
        for e in entries:
            ids = http("POST", server.base_url + "/tokenize", {"content": e["token"], "parse_special": False}).json()["tokens"]
            assert len(ids) == 1
            generated.append(ids[0])
        ids = prompt_ids + generated
        with tempfile.TemporaryDirectory() as directory:
            out = f"{directory}/logits.safetensors"
            subprocess.run([glmserve_binary(), "score", "--model", str(BUNDLED), "--exact", "--token-ids",
                            ",".join(map(str, ids)), "--output", out], check=True, capture_output=True)
            config = json.loads((BUNDLED / "config.json").read_text())
            rows = read_logits(out, config["vocab_size"])
        for k, e in enumerate(entries):
            reference = log_softmax(rows[len(prompt_ids) - 1 + k])
            assert abs(reference[generated[k]] - e["logprob"]) < 1e-4
            best = sorted(reference, reverse=True)[:5]
            assert all(abs(a - b["logprob"]) < 1e-4 for a, b in zip(best, e["top_logprobs"]))

        legacy = http("POST", server.base_url + "/v1/completions",
                      {"prompt": prompt_ids, "max_tokens": 10, "temperature": 0, "logprobs": 3}).json()
        logprobs = legacy["choices"][0]["logprobs"]
        assert logprobs["tokens"] == [e["token"] for e in entries]
        assert all(abs(a - e["logprob"]) < 1e-6 for a, e in zip(logprobs["token_logprobs"], entries))
        assert logprobs["text_offset"][0] == 0 and len(logprobs["top_logprobs"][0]) == 3
    finally:
        assert server.stop() == 0


def test_sampling_fields(bundled):
    url = bundled.base_url + "/v1/chat/completions"
    base = {"messages": [{"role": "user", "content": "Count to five."}], "max_tokens": 12,
            "chat_template_kwargs": {"enable_thinking": False}}
    greedy = http("POST", url, {**base, "temperature": 0}).json()
    no_sample = http("POST", url, {**base, "temperature": 1.3, "do_sample": False, "request_id": "req-42",
                                   "user_id": "u-1", "user": "someone"}).json()
    assert no_sample["id"] == "req-42"
    assert no_sample["choices"][0]["message"] == greedy["choices"][0]["message"]
    a = http("POST", url, {**base, "temperature": 1, "seed": 5, "top_k": 20, "min_p": 0.05,
                           "repetition_penalty": 1.1, "presence_penalty": 0.5, "frequency_penalty": 0.5}).json()
    b = http("POST", url, {**base, "temperature": 1, "seed": 5, "top_k": 20, "min_p": 0.05,
                           "repetition_penalty": 1.1, "presence_penalty": 0.5, "frequency_penalty": 0.5}).json()
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
    for field, value in [("logit_bias", {"1": 101}), ("n", 2), ("top_logprobs", 21), ("min_p", 2),
                         ("presence_penalty", 3), ("repetition_penalty", 0), ("do_sample", "no")]:
        reply = http("POST", url, {**base, field: value, "logprobs": True} if field == "top_logprobs" else {**base, field: value})
        assert reply.status_code == 400, (field, reply.text)
        assert reply.json()["error"]["param"] == field, reply.text
    # logit_bias: +100 on one token makes greedy decoding pick it every time.
    token = http("POST", bundled.base_url + "/tokenize", {"content": " x"}).json()["tokens"][0]
    biased = http("POST", url, {**base, "temperature": 0, "max_tokens": 3, "logit_bias": {str(token): 100}}).json()
    assert biased["choices"][0]["message"]["content"] == " x x x".strip() or biased["choices"][0]["message"]["content"].count("x") == 3
    assert any("someone" in line for line in bundled.log)


# MARK: strict tool calls

WEATHER = {"type": "object",
           "properties": {"city": {"type": "string", "maxLength": 12}, "days": {"type": "integer"},
                          "unit": {"enum": ["C", "F"]}, "hourly": {"type": "boolean"}},
           "required": ["city", "days"], "additionalProperties": False}


@pytest.mark.parametrize("tool_choice,strict", [
    ({"type": "function", "function": {"name": "get_weather"}}, False), ("required", False), ("auto", True)],
    ids=["named", "required", "strict-auto"])
def test_constrained_tool_arguments_validate(bundled, tool_choice, strict):
    sdk = client(bundled)
    calls = 0
    for thinking in (True, False):
        for seed in range(3):
            reply = sdk.chat.completions.create(
                model="GLM-Tiny", max_tokens=300, temperature=0.8, seed=seed,
                messages=[{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}],
                tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER, "strict": strict}}],
                tool_choice=tool_choice, extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
            choice = reply.choices[0]
            for call in choice.message.tool_calls or []:
                assert call.function.name == "get_weather"
                validator(WEATHER).validate(json.loads(call.function.arguments))
                calls += 1
            # No call text leaks into the content.
            assert "<arg_key>" not in (choice.message.content or "")
    assert calls >= 4


def test_unsupported_tool_parameter_keyword_is_a_400(bundled):
    with pytest.raises(BadRequestError) as caught:
        client(bundled).chat.completions.create(
            model="GLM-Tiny", messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "f", "strict": True, "parameters": {
                "type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}])
    assert caught.value.body["param"] == "tools[0].function.parameters"
    assert "minimum" in caught.value.body["message"]
