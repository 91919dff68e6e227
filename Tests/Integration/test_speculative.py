"""`glmserve serve --speculative mtp`: the same greedy answers as a plain server, draft counts in the log and
/metrics, and clear start-up errors for a bad value."""
import subprocess

import pytest

from conftest import REPO, RunningServer, glmserve_binary, http

BUNDLED = REPO / "Models" / "GLM-Tiny"


def chat(server: RunningServer, content: str, **extra) -> dict:
    reply = http("POST", server.base_url + "/v1/chat/completions", timeout=120,
                 json_body={"messages": [{"role": "user", "content": content}], **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize("model", [None, BUNDLED], ids=["tiny-chat-bf16", "GLM-Tiny"])
def test_greedy_answer_equals_plain_server(model):
    args = ("--model", str(model)) if model else ()
    plain = RunningServer(*args)
    speculative = RunningServer(*args, "--speculative", "mtp")
    try:
        requests = [("Write a Python function that adds two numbers.", {"max_tokens": 48}),
                    ("Count to ten", {"max_tokens": 32, "stop": ["5"]})]
        for content, extra in requests:
            a = chat(plain, content, temperature=0, **extra)
            b = chat(speculative, content, temperature=0, **extra)
            assert a["choices"][0]["message"] == b["choices"][0]["message"]
            assert a["choices"][0]["finish_reason"] == b["choices"][0]["finish_reason"]
            assert a["usage"]["completion_tokens"] == b["usage"]["completion_tokens"]
        metrics = http("GET", speculative.base_url + "/metrics").text
        drafted = next(int(line.split()[1]) for line in metrics.splitlines()
                       if line.startswith("glmserve_draft_tokens_total "))
        assert drafted > 0
    finally:
        assert plain.stop() == 0
        assert speculative.stop() == 0
    expected_id = model.name if model else "tiny-chat-bf16"
    assert any(f"model '{expected_id}' loaded" in line for line in speculative.log), speculative.log[:5]
    assert any("speculative decoding: mtp" in line for line in speculative.log)
    assert any("drafts " in line and "accepted " in line for line in speculative.log), speculative.log[-5:]


def test_unknown_speculative_method_is_refused():
    result = subprocess.run([glmserve_binary(), "serve", "--port", "0", "--speculative", "eagle"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--speculative must be 'mtp'" in result.stderr, result.stderr
