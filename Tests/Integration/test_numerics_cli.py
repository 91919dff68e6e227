"""The numeric modes on the command line: `--exact` on every model command, `perplexity` with its window
arithmetic and JSON, and `bench --roofline --json` with a bandwidth measured in the same run."""
import json
import subprocess
from pathlib import Path

from conftest import MODEL_DIR, glmserve_binary

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "Models" / "GLM-Tiny"
HELD_OUT = ROOT / "Tests" / "Fixtures" / "heldout" / "stdlib-heldout.txt"


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([glmserve_binary(), *args], capture_output=True, text=True, timeout=timeout)


def perplexity(*extra: str) -> dict:
    result = run("perplexity", "--model", str(TINY), "--file", str(HELD_OUT), "--ctx", "256", "--json",
                 "--threads", "1", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_perplexity_json_in_both_modes():
    exact, fast = perplexity("--exact"), perplexity()
    assert exact["numerics"] == "exact" and fast["numerics"] == "fast"
    assert exact["ctx"] == 256
    assert exact["tokens"] == fast["tokens"] > 10000          # every token but the first
    assert exact["windows"] == -(-(exact["tokens"]) // 256)   # ceil(counted / ctx)
    assert 1 < exact["perplexity"] < 1000
    assert fast["perplexity"] / exact["perplexity"] - 1 < 0.002


def test_perplexity_refuses_a_text_too_short_and_a_bad_window(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("a")
    result = run("perplexity", "--model", str(TINY), "--file", str(one), "--ctx", "16")
    assert result.returncode != 0 and "perplexity needs at least 2" in result.stderr, result.stderr
    result = run("perplexity", "--model", str(TINY), "--file", str(HELD_OUT), "--ctx", "0")
    assert result.returncode != 0 and "--ctx must be at least 1" in result.stderr, result.stderr
    result = run("perplexity", "--model", str(TINY), "--file", str(tmp_path / "missing.txt"))
    assert result.returncode != 0 and "cannot read --file" in result.stderr, result.stderr


def test_bench_roofline_json_reports_bandwidth_and_efficiency():
    result = run("bench", "--model", str(MODEL_DIR), "--prompt-tokens", "32", "--new-tokens", "8", "--repeats", "2",
                 "--roofline", "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["numerics"] == "fast"
    assert len(report["bandwidth_passes_gbps"]) == 10 and report["bandwidth_gbps"] > 0
    assert report["decode_weight_gbps"] > 0 and report["prefill_gflops"] > 0
    assert abs(report["decode_bandwidth_fraction"] - report["decode_weight_gbps"] / report["bandwidth_gbps"]) < 1e-3
    assert report["resident_bytes"] > 0


def test_every_model_command_takes_exact():
    result = run("generate", "--model", str(MODEL_DIR), "--token-ids", "1,2,3", "--max-tokens", "2", "--exact",
                 "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "exact products" in result.stderr
    out = Path(subprocess.check_output(["mktemp", "-d"], text=True).strip()) / "logits.safetensors"
    result = run("score", "--model", str(MODEL_DIR), "--token-ids", "1,2,3", "--output", str(out), "--exact",
                 "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
    result = run("bench", "--model", str(MODEL_DIR), "--prompt-tokens", "4", "--new-tokens", "2", "--exact",
                 "--repeats", "1", "--threads", "1")
    assert result.returncode == 0 and "exact products" in result.stdout, result.stdout + result.stderr
    result = run("serve", "--help")
    assert "--exact" in result.stdout
