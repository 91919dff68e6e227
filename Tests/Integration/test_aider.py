"""A real Aider against `glmserve serve` with the bundled Models/GLM-Tiny: the check of Scripts/check_aider.py.

Aider (`aider-chat`, pinned in Scripts/requirements-aider.txt) is not in Tests/Integration/requirements.txt: the
test runs it from AIDER_BIN, else from .venv-aider (which `Scripts/check_aider.py` installs), and is skipped,
saying so, when neither exists. The tests of the outbound watch itself (proxy trap, strace parsing) always run.
"""
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import REPO, RunningServer

sys.path.insert(0, str(REPO / "Scripts"))
import check_aider  # noqa: E402

BUNDLED_MODEL = REPO / "Models" / "GLM-Tiny"
CONTEXT = 4096  # RunningServer's --ctx-size


def installed_aider() -> str | None:
    if os.environ.get("AIDER_BIN"):
        return os.environ["AIDER_BIN"]
    venv_aider = REPO / ".venv-aider" / "bin" / "aider"
    return str(venv_aider) if venv_aider.exists() else None


@pytest.fixture(scope="module")
def aider() -> str:
    path = installed_aider()
    if path is None:
        pytest.skip("Aider is not installed: set AIDER_BIN, or run Scripts/check_aider.py once (it installs "
                    "Scripts/requirements-aider.txt into .venv-aider)")
    version, pinned = check_aider.aider_version(path), check_aider.pinned_aider_version()
    assert version == pinned, f"{path} is Aider {version}; this check is written for the pinned {pinned}"
    return path


@pytest.fixture(scope="module")
def bundled_server():
    running = RunningServer(model=BUNDLED_MODEL)
    yield running
    code = running.stop()
    assert code == 0, "glmserve did not exit cleanly:\n" + "\n".join(running.log[-30:])


@pytest.mark.xfail(strict=True, reason="issue 13: the bundled GLM-Tiny's reasoning does not close on Aider's prompt, so "
                   "Aider prints no answer; strict, so the test fails once the model passes and the mark must go")
def test_aider_prints_the_answer_of_the_bundled_model(aider, bundled_server, tmp_path):
    run = check_aider.run_aider(bundled_server.base_url, aider, tmp_path, context=CONTEXT, timeout=300)
    problems = run.problems()
    assert not problems, "\n".join(problems) + "\n\n" + run.report()
    assert any("POST /v1/chat/completions" in line and '" 200 ' in line for line in bundled_server.log), \
        "\n".join(bundled_server.log)


# --- the outbound watch can fail -----------------------------------------------------------------------------------

def test_the_proxy_trap_records_a_request_for_the_outside():
    trap = check_aider.ProxyTrap()
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": trap.url}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open("http://example.invalid/file.json", timeout=10)
        assert refused.value.code == 403
        assert trap.requests == ["GET http://example.invalid/file.json HTTP/1.1 (Host: example.invalid)"]
        assert set(trap.proxy_env()["NO_PROXY"].split(",")) == {"127.0.0.1", "localhost", "::1"}
    finally:
        trap.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_strace_sees_a_socket_aimed_beyond_loopback(tmp_path):
    # UDP connect() only sets the peer address: no packet leaves the machine.
    program = ("import socket\n"
               "for address in ['127.0.0.1', '192.0.2.7']:\n"
               "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((address, 9)); s.close()\n")
    log = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
                    "-o", str(log), sys.executable, "-c", program], check=True, timeout=60)
    flagged = check_aider.outbound_addresses(log.read_text())
    assert len(flagged) == 1 and '"192.0.2.7"' in flagged[0], log.read_text()


def test_outbound_addresses_keeps_loopback_and_flags_the_rest():
    log = "\n".join([
        '10 connect(5, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '10 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '10 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '11 connect(8, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
        '11 sendto(9, "\\x12\\x34", 2, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.2")}, 16)'
        ' = 2',
    ])
    flagged = check_aider.outbound_addresses(log)
    assert [line.split("(")[0] for line in flagged] == ["11 connect", "11 sendto"]


def test_the_llm_history_parser_separates_reasoning_from_the_answer():
    tag = "thinking-content-7bbeb8e1441453ad999a0bbba8a46d4b"
    history = "\n".join([
        "TO LLM 2026-01-01T00:00:00", "-------", "SYSTEM Act as an expert.", "USER fix it",
        "LLM RESPONSE 2026-01-01T00:00:01", f"ASSISTANT <{tag}>", "ASSISTANT ", "ASSISTANT import the",
        "TO LLM 2026-01-01T00:00:02", "USER again",
        "LLM RESPONSE 2026-01-01T00:00:03", f"ASSISTANT <{tag}>", "ASSISTANT short", f"ASSISTANT </{tag}>",
        "ASSISTANT ", "ASSISTANT calc.py", "ASSISTANT ```", "ASSISTANT     return a + b", "ASSISTANT ```",
    ])
    first, second = check_aider.parse_llm_history(history)
    assert first == {"reasoning": "import the", "answer": "", "closed": False}
    assert second == {"reasoning": "short", "answer": "calc.py\n```\n    return a + b\n```", "closed": True}


def test_no_answer_and_a_missing_answer_fail_the_check():
    run = check_aider.AiderRun(command=["aider"], returncode=0, stdout="THINKING import the", stderr="",
                               elapsed=1.0, replies=[{"reasoning": "import the", "answer": "", "closed": False}])
    assert any("no answer text outside the reasoning" in problem for problem in run.problems())
    run.replies = [{"reasoning": "", "answer": "return a + b", "closed": True}]
    assert any("not in Aider's output" in problem for problem in run.problems())
    run.stdout = "Added calc.py to the chat.\nreturn   a + b\n"
    assert run.problems() == []
