"""`glmserve serve` start-up failures print the error alone (no usage text) and exit non-zero."""
import subprocess

from conftest import glmserve_binary


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([glmserve_binary(), "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60)


def test_missing_model_folder_prints_only_the_error(tmp_path):
    result = run_serve("--model", str(tmp_path / "no-such-model"))
    assert result.returncode != 0
    assert "no model folder at" in result.stderr
    assert "USAGE" not in result.stderr.upper(), result.stderr


def test_broken_tokenizer_fails_before_loading_weights(tmp_path):
    # A folder with a config and weights named but a broken tokenizer.json: the error names the tokenizer file.
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text('{"model": ')
    result = run_serve("--model", str(tmp_path))
    assert result.returncode != 0
    assert "tokenizer.json" in result.stderr, result.stderr
    assert "loaded " not in result.stderr   # no weight-load progress line
    assert "USAGE" not in result.stderr.upper(), result.stderr


def test_kv_caches_that_cannot_fit_are_refused_at_start():
    # 4096 slots of 200k tokens: far more KV cache than any test machine has.
    result = run_serve("--model", "Models/GLM-Tiny", "--ctx-size", "200000", "--parallel", "4096")
    assert result.returncode == 1
    assert "--ctx-size 200000 × --parallel 4096 needs" in result.stderr, result.stderr
    assert "lower --ctx-size, --parallel or --cache-ram" in result.stderr


def test_bad_cache_and_kv_options_are_usage_errors():
    for option, value, message in [("--cache-ram", "lots", "--cache-ram must be a size"),
                                   ("--cache-disk", "5X", "--cache-disk must be a size"),
                                   ("--kv-type", "f16", "--kv-type must be f32, bf16 or q8")]:
        result = run_serve("--model", "Models/GLM-Tiny", option, value)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
