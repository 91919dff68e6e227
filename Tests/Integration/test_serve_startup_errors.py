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
