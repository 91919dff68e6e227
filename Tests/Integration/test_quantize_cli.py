"""Quantised weights on the command line: `--quantize q8|q4` quality on held-out text, `glmserve quantize`
folders (same perplexity as quantising at load, refused when quantised again), and what `bench` reports."""
import json
import subprocess
from pathlib import Path

from conftest import glmserve_binary

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "Models" / "GLM-Tiny"
HELD_OUT = ROOT / "Tests" / "Fixtures" / "heldout" / "stdlib-heldout.txt"


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([glmserve_binary(), *args], capture_output=True, text=True, timeout=timeout)


def perplexity(model: Path, *extra: str) -> float:
    result = run("perplexity", "--model", str(model), "--file", str(HELD_OUT), "--ctx", "512", "--json",
                 "--threads", "1", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["perplexity"]


def test_quantized_perplexity_within_the_issue_limits():
    reference = perplexity(TINY, "--exact")
    q8, q4 = perplexity(TINY, "--quantize", "q8"), perplexity(TINY, "--quantize", "q4")
    assert q8 / reference - 1 < 0.001, (q8, reference)
    assert q4 / reference - 1 < 0.01, (q4, reference)
    assert q4 != q8 != reference                              # the weights did change


def test_quantize_folder_loads_with_no_flag_and_matches_quantize_at_load(tmp_path):
    out = tmp_path / "tiny-q4"
    result = run("quantize", "--model", str(TINY), "--type", "q4", "--output", str(out), "--shard-size", "4000000")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "(q4)" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "glmserve"
    assert config["quantization_config"]["version"] == 1
    assert (out / "tokenizer.json").exists() and (out / "chat_template.jinja").exists()
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) >= 2                      # sharded
    assert any(name.startswith("model.layers.4.") for name in index["weight_map"])  # the MTP layer is there
    assert perplexity(out) == perplexity(TINY, "--quantize", "q4")

    again = run("quantize", "--model", str(out), "--type", "q8", "--output", str(tmp_path / "again"))
    assert again.returncode != 0 and "already quantised" in again.stderr, again.stderr
    at_load = run("score", "--model", str(out), "--token-ids", "1,2,3", "--quantize", "q8",
                  "--output", str(tmp_path / "logits.safetensors"))
    assert at_load.returncode != 0 and "already quantised" in at_load.stderr, at_load.stderr

    bench = run("bench", "--model", str(out), "--prompt-tokens", "16", "--new-tokens", "4", "--json", "--threads", "1")
    assert bench.returncode == 0, bench.stderr
    report = json.loads(bench.stdout)
    assert report["weight_format"].startswith("q4")
    assert 4.5 < report["bits_per_weight"] < 8
    assert 0 < report["active_bytes_per_token"] < report["weight_bytes"]


def test_quantize_refuses_a_non_empty_output(tmp_path):
    (tmp_path / "something").write_text("x")
    result = run("quantize", "--model", str(TINY), "--type", "q8", "--output", str(tmp_path))
    assert result.returncode != 0 and "exists and is not empty" in result.stderr, result.stderr
