"""The one-shot commands (`tokenize`, `detokenize`, `render`) on the tiny fixture model: bad standard input is a
clear `Error: ...` on stderr with exit status 1, never empty output with status 0."""
import json
import subprocess

import pytest

from conftest import MODEL_DIR, glmserve_binary

VOCABULARY_SIZE = 4132  # the fixture's tokenizer: ids 0..<4132


def run(command: str, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([glmserve_binary(), command, "--model", str(MODEL_DIR)], input=stdin,
                          capture_output=True, timeout=60)


def test_tokenize_then_detokenize_round_trip():
    tokenized = run("tokenize", b"hello world")
    assert tokenized.returncode == 0, tokenized.stderr
    ids = json.loads(tokenized.stdout)
    assert ids and all(isinstance(i, int) for i in ids)
    detokenized = run("detokenize", json.dumps(ids).encode())
    assert detokenized.returncode == 0, detokenized.stderr
    assert json.loads(detokenized.stdout) == "hello world"


@pytest.mark.parametrize("ids, index, bad", [([-1], 0, -1), ([99999], 0, 99999), ([5, VOCABULARY_SIZE], 1, VOCABULARY_SIZE)])
def test_detokenize_rejects_ids_out_of_range(ids, index, bad):
    result = run("detokenize", json.dumps(ids).encode())
    assert result.returncode == 1
    assert result.stdout == b""
    message = result.stderr.decode()
    assert message.startswith("Error: stdin must be a JSON array of token ids (0..<4132)"), message
    assert f"element {index} is {bad}, out of range" in message, message


@pytest.mark.parametrize("stdin, expected", [
    (b"[1.5]", "element 0 is the number 1.5, not an integer"),
    (b'[1, "a"]', 'element 1 is the string "a", not an integer'),
    (b"[true]", "element 0 is the boolean true, not an integer"),
    (b'{"tokens": [1]}', "not an object"),
    (b"1", "not the integer 1"),
    (b"[1, 2", "invalid JSON at byte 5"),
    (b"", "invalid JSON at byte 0"),
    (b"[123456789012345678901234]", "too large for a token id"),
])
def test_detokenize_rejects_malformed_stdin(stdin, expected):
    result = run("detokenize", stdin)
    assert result.returncode == 1
    assert result.stdout == b""
    message = result.stderr.decode()
    assert message.startswith("Error: stdin must be a JSON array of token ids"), message
    assert expected in message, message


def test_tokenize_rejects_invalid_utf8():
    result = run("tokenize", b"ab\xffcd")
    assert result.returncode == 1
    assert result.stdout == b""
    assert result.stderr.decode().startswith("Error: stdin is not valid UTF-8 text (invalid byte sequence at byte 2)")


@pytest.mark.parametrize("stdin, expected", [
    (b"{bad", "Error: request body: invalid JSON at byte 1"),
    (b'{"messages": 3}', "Error: 'messages' must be an array"),
])
def test_render_errors_look_like_every_other_command(stdin, expected):
    result = run("render", stdin)
    assert result.returncode == 1
    assert result.stdout == b""
    lines = [line for line in result.stderr.decode().splitlines() if not line.startswith("Warning: ")]
    assert lines and lines[0].startswith(expected), result.stderr
