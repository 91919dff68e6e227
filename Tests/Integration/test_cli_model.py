"""The model commands (`generate`, `bench`, `serve`) on the tiny fixture model: a prompt + new tokens beyond the
model's context is refused before the weights load, and the load logs use the byte units and thread count the
engine really has."""
import re
import subprocess

from conftest import MODEL_DIR, glmserve_binary

CONTEXT = 202752  # the fixture's max_position_embeddings
POOL_LIMIT = 256  # CK_MAX_THREADS in Sources/CKernels/pool.c


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([glmserve_binary(), *args, "--model", str(MODEL_DIR)], capture_output=True, text=True,
                          timeout=120)


def test_bench_refuses_a_prompt_beyond_the_context_before_loading():
    result = run("bench", "--prompt-tokens", "1000000", "--new-tokens", "32")
    assert result.returncode != 0
    assert (f"prompt (1000000 tokens) + new tokens (32) exceed the model's context of {CONTEXT} tokens "
            "(max_position_embeddings)") in result.stderr, result.stderr
    assert "loaded " not in result.stderr, result.stderr
    assert "KV cache full" not in result.stderr


def test_generate_refuses_too_many_new_tokens_before_loading():
    result = run("generate", "--token-ids", "1,2,3", "--max-tokens", str(CONTEXT))
    assert result.returncode != 0
    assert f"prompt (3 tokens) + new tokens ({CONTEXT}) exceed the model's context" in result.stderr, result.stderr
    assert "loaded " not in result.stderr, result.stderr


def test_generate_load_summary_uses_megabytes_below_a_gigabyte():
    result = run("generate", "--token-ids", "1,2,3", "--max-tokens", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    summary = next(line for line in result.stderr.splitlines() if line.startswith("loaded "))
    assert re.search(r": \d+ tensors, \d+\.\d\d MB \(BF16 \d+\.\d\d MB", summary), summary
    assert " GB" not in summary, summary


def test_serve_logs_the_threads_the_engine_started():
    # More threads than the pool allows: the log must say how many run, not echo the option.
    process = subprocess.Popen([glmserve_binary(), "serve", "--model", str(MODEL_DIR), "--port", "0",
                                "--threads", "300"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "listening on" in line or "loaded in" in line and "threads" in line:
                break
        loaded = next((line for line in lines if "loaded in" in line), "")
        assert f", {POOL_LIMIT} threads," in loaded, "".join(lines)
    finally:
        process.terminate()
        process.wait(timeout=30)
