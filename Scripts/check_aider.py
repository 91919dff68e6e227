#!/usr/bin/env python3
"""Drives a real Aider against `glmserve serve`: the check a newcomer's first coding-agent session makes.

    Scripts/check_aider.py [--model DIR] [--message TEXT] [--max-tokens N] [--aider PATH] [--no-strace]

Installs Aider (`aider-chat`, pinned in Scripts/requirements-aider.txt) into .venv-aider unless --aider names one,
starts `glmserve serve` (GLMSERVE_BIN, else the release build) with the bundled Models/GLM-Tiny on a free loopback
port, and runs Aider the way a user would script it:

    aider --model openai/GLM-Tiny --message "..." --yes-always calc.py

in a temporary git repository, through litellm's `openai/` provider (OPENAI_API_BASE = the server, a dummy key).
It passes when Aider exits 0 and prints the model's answer: the text outside the reasoning of a reply, read from
Aider's own LLM log, non-empty and shown in Aider's output.

Nothing may leave loopback. Aider's update check, analytics, release notes, URL scraping, browser and
model-price download are switched off, litellm uses its bundled price map (LITELLM_LOCAL_MODEL_COST_MAP), Aider
runs with an empty HOME and no git hooks, and the check watches for what would still go out:
  - every proxy variable points at a trap on 127.0.0.1 that records each request made to it (NO_PROXY exempts
    only loopback), so a proxy-aware client reaching for the outside is seen, not just refused;
  - with strace (default when installed): every connect/sendto/sendmsg of Aider and its children; an address
    outside 127.0.0.0/8 and ::1 fails the check (this catches DNS look-ups and clients that ignore proxies);
  - BROWSER records any URL Aider tries to open.

The Python integration test Tests/Integration/test_aider.py imports `run_aider` from this file.
Exit status: 0 when the check passes, 1 when it fails, 2 when it cannot run (no binary, install failed).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "Scripts" / "requirements-aider.txt"
VENV = REPO / ".venv-aider"
BUNDLED_MODEL = REPO / "Models" / "GLM-Tiny"

DEFAULT_MESSAGE = "The add function returns the wrong result. Fix it so that it returns the sum of a and b."
# The file added to Aider's chat (a small bug to fix).
CHAT_FILE_NAME = "calc.py"
CHAT_FILE_TEXT = 'def add(a, b):\n    """Returns the sum of a and b."""\n    return a - b\n'

# Aider's switches that keep it on loopback and non-interactive (Aider 0.86).
OFFLINE_SWITCHES = [
    "--no-check-update", "--no-show-release-notes",       # PyPI version check, release notes
    "--no-analytics", "--analytics-disable",              # PostHog/Mixpanel
    "--no-detect-urls", "--disable-playwright",           # scraping URLs found in the message
    "--no-show-model-warnings",                           # the warning offers to open a documentation URL
    "--no-auto-commits", "--no-dirty-commits",            # no commit-message request to the weak model
    "--no-gitignore",                                     # leaves the repository's .gitignore alone
    "--no-pretty", "--no-fancy-input", "--stream",        # plain text, streamed to stdout
    "--no-suggest-shell-commands", "--no-notifications",
]

REASONING_TAG = re.compile(r"<(/?)thinking-content-[0-9a-f]+>")


def pinned_aider_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.fullmatch(r"\s*aider-chat==(\S+)\s*", line)
        if match:
            return match.group(1)
    raise SystemExit(f"{REQUIREMENTS}: no 'aider-chat==VERSION' line")


def aider_version(aider: str) -> str | None:
    """`aider --version` ("aider 0.86.2" → "0.86.2"), or None when it does not run."""
    try:
        result = subprocess.run([aider, "--version"], capture_output=True, text=True, timeout=120,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()})
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"aider\s+v?(\S+)", result.stdout)
    return match.group(1) if result.returncode == 0 and match else None


# --- outbound watch ---------------------------------------------------------------------------------------------

class ProxyTrap:
    """A listener on 127.0.0.1 that every proxy variable points at: it records the first line and Host of each
    request (a CONNECT host:443 or an absolute GET) and refuses it."""

    def __init__(self):
        self.requests: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                head = data.decode("latin-1").split("\r\n")
                host = next((line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("host:")),
                            "")
                self.requests.append(f"{head[0]} (Host: {host})" if host else (head[0] or "<connection, no request>"))
                try:
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self._sock.close()

    def proxy_env(self) -> dict[str, str]:
        env = {}
        for name in ["http_proxy", "https_proxy", "all_proxy", "ftp_proxy"]:
            env[name] = env[name.upper()] = self.url
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1"
        return env


_INET_ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"')


def outbound_addresses(strace_text: str) -> list[str]:
    """The socket calls in an strace log (connect/sendto/sendmsg) aimed at an address outside loopback."""
    found = []
    for line in strace_text.splitlines():
        if "AF_INET" not in line:
            continue
        for v4, v6 in _INET_ADDRESS.findall(line):
            address = v4 or v6
            if address == "0.0.0.0" or address == "::":
                continue  # unconnected/unspecified (e.g. a bind-like call)
            if address.startswith(("127.", "::ffff:127.")) or address == "::1":
                continue
            found.append(line.strip())
            break
    return found


# --- Aider run ----------------------------------------------------------------------------------------------------

@dataclass
class AiderRun:
    """What one Aider run did: its output, the replies it logged, and any reach beyond loopback."""
    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float
    replies: list[dict] = field(default_factory=list)  # {"reasoning": str, "answer": str, "closed": bool}
    trapped: list[str] = field(default_factory=list)   # requests the proxy trap saw
    outbound: list[str] = field(default_factory=list)  # strace lines with a non-loopback address
    opened_urls: list[str] = field(default_factory=list)
    strace_used: bool = False
    timed_out: bool = False

    @property
    def cut_at_max_tokens(self) -> bool:
        """Aider said a reply hit the output limit (finish_reason "length")."""
        return "has hit a token limit" in self.stdout

    @property
    def answers(self) -> list[str]:
        return [reply["answer"] for reply in self.replies if reply["answer"].strip()]

    def problems(self) -> list[str]:
        """Why the check fails (empty when it passes)."""
        found = []
        if self.timed_out:
            found.append("Aider did not finish in time (killed)")
        elif self.returncode != 0:
            found.append(f"Aider exited with status {self.returncode}")
        if not self.replies:
            found.append("Aider logged no reply from the model (no 'LLM RESPONSE' in its LLM history)")
        elif not self.answers:
            kinds = ", ".join(
                f"{len(reply['reasoning'])} chars of reasoning{' (never closed)' if not reply['closed'] else ''}, "
                f"{len(reply['answer'].strip())} chars of answer" for reply in self.replies)
            found.append(f"the model's replies have no answer text outside the reasoning ({kinds})")
        shown = " ".join(self.stdout.split())
        for answer in self.answers:
            if " ".join(answer.split()) not in shown:
                found.append("an answer the model sent is not in Aider's output: " + repr(answer[:200]))
        if self.trapped:
            found.append("requests beyond loopback (through the proxy variables): " + "; ".join(self.trapped))
        if self.outbound:
            found.append("socket calls to addresses beyond loopback: " + " | ".join(self.outbound[:5]))
        if self.opened_urls:
            found.append("Aider tried to open a web page (with --yes-always it opens the help page it offers, e.g. "
                         "when a reply is cut at max_tokens): " + ", ".join(self.opened_urls))
        return found

    def report(self) -> str:
        lines = ["$ " + shlex.join(self.command), f"-- Aider's output (exit status {self.returncode}, "
                 f"{self.elapsed:.1f} s) --", self.stdout.rstrip()]
        if self.stderr.strip():
            lines += ["-- Aider's stderr --", self.stderr.rstrip()]
        for index, reply in enumerate(self.replies, 1):
            lines.append(f"-- reply {index}: {len(reply['reasoning'])} chars of reasoning"
                         f"{'' if reply['closed'] else ' (not closed)'}, answer: {reply['answer'].strip()!r}")
        if self.cut_at_max_tokens:
            lines.append("-- a reply was cut at max_tokens (Aider: 'has hit a token limit')")
        lines.append("-- outbound: proxy trap saw " + (", ".join(self.trapped) or "nothing") + "; " +
                     ("strace saw " + (" | ".join(self.outbound) or "only loopback") if self.strace_used
                      else "strace not used") + "; browser opened " + (", ".join(self.opened_urls) or "nothing"))
        return "\n".join(lines)


def parse_llm_history(text: str) -> list[dict]:
    """The replies in Aider's --llm-history-file: sections headed `LLM RESPONSE <time>` whose lines start with
    `ASSISTANT `; reasoning sits between Aider's <thinking-content-…> tags."""
    replies = []
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"(TO LLM|LLM RESPONSE) \S+", line):
            if current is not None:
                replies.append(current)
            current = [] if line.startswith("LLM RESPONSE") else None
        elif current is not None and line.startswith("ASSISTANT"):
            current.append(line[len("ASSISTANT "):])
    if current is not None:
        replies.append(current)
    parsed = []
    for reply_lines in replies:
        body = "\n".join(reply_lines)
        reasoning, answer, closed, inside = [], [], True, False
        position = 0
        for match in REASONING_TAG.finditer(body):
            (reasoning if inside else answer).append(body[position:match.start()])
            inside = match.group(1) != "/"
            position = match.end()
        (reasoning if inside else answer).append(body[position:])
        closed = not inside
        parsed.append({"reasoning": "".join(reasoning).strip(), "answer": "".join(answer).strip(), "closed": closed})
    return parsed


def run_aider(base_url: str, aider: str, workdir: Path, *, model_id: str | None = None,
              message: str = DEFAULT_MESSAGE, max_tokens: int = 512, context: int = 8192,
              thinking: bool = True, use_strace: bool | None = None, timeout: float = 600) -> AiderRun:
    """Runs Aider once against the OpenAI-compatible server at `base_url` (http://127.0.0.1:PORT) in a new git
    repository under `workdir`, with CHAT_FILE_NAME in the chat. `thinking` False sends the thinking switch off
    (`chat_template_kwargs.enable_thinking`) in every request; `use_strace` None: when strace is installed."""
    aider = os.path.abspath(shutil.which(aider) or aider)  # Aider runs in the new repository
    if model_id is None:
        with urllib.request.urlopen(base_url + "/v1/models", timeout=30) as response:
            model_id = json.load(response)["data"][0]["id"]
    home, repo = workdir / "home", workdir / "repo"
    home.mkdir(parents=True)
    repo.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Aider Check\n\temail = aider-check@localhost\n"
                                     f"[core]\n\thooksPath = {home / 'no-hooks'}\n[init]\n\tdefaultBranch = main\n")
    (home / "no-hooks").mkdir()
    browser = workdir / "record-url"
    opened = workdir / "opened-urls.txt"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {shlex.quote(str(opened))}\n')
    browser.chmod(0o755)

    # litellm's model name for Aider: openai/<id> goes through its OpenAI provider to OPENAI_API_BASE.
    aider_model = f"openai/{model_id}"
    settings = workdir / "model-settings.yml"
    extra_params = {"max_tokens": max_tokens}
    if not thinking:
        extra_params["extra_body"] = {"chat_template_kwargs": {"enable_thinking": False}}
    # YAML is a superset of JSON: Aider's settings file is written as JSON.
    settings.write_text(json.dumps([{"name": aider_model, "extra_params": extra_params}], indent=2) + "\n")
    metadata = workdir / "model-metadata.json"
    metadata.write_text(json.dumps({aider_model: {
        "max_input_tokens": context, "max_output_tokens": max_tokens, "max_tokens": max_tokens,
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "chat"}}))
    llm_log = workdir / "llm-history.txt"

    trap = ProxyTrap()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb",
        "OPENAI_API_BASE": base_url + "/v1", "OPENAI_API_KEY": "sk-dummy-loopback-only",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "BROWSER": str(browser),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
        **trap.proxy_env(),
    }
    git = ["git", "-C", str(repo)]
    for args in (["init", "-q"], ["add", CHAT_FILE_NAME], ["commit", "-q", "-m", "A small module"]):
        if args[0] == "add":
            (repo / CHAT_FILE_NAME).write_text(CHAT_FILE_TEXT)
        subprocess.run(git + args, env=env, check=True, capture_output=True)

    command = [aider, "--model", aider_model, "--model-settings-file", str(settings),
               "--model-metadata-file", str(metadata), "--llm-history-file", str(llm_log),
               "--timeout", str(int(timeout)), *OFFLINE_SWITCHES, "--yes-always", "--message", message,
               CHAT_FILE_NAME]
    if use_strace is None:
        use_strace = shutil.which("strace") is not None
    strace_log = workdir / "strace.txt"
    launched = (["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
                 "-o", str(strace_log)] + command) if use_strace else command
    start = time.monotonic()
    timed_out = False
    process = subprocess.Popen(launched, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        trap.close()
    elapsed = time.monotonic() - start

    return AiderRun(
        command=command, returncode=process.returncode, stdout=stdout, stderr=stderr, elapsed=elapsed,
        replies=parse_llm_history(llm_log.read_text(errors="replace")) if llm_log.exists() else [],
        trapped=list(trap.requests),
        outbound=outbound_addresses(strace_log.read_text(errors="replace")) if use_strace and strace_log.exists()
        else [],
        opened_urls=opened.read_text().split() if opened.exists() else [],
        strace_used=use_strace, timed_out=timed_out)


# --- the standalone check -----------------------------------------------------------------------------------------

class Server:
    """`glmserve serve` on a free loopback port, its stderr collected."""

    def __init__(self, binary: str, model: Path, context: int):
        self.log: list[str] = []
        self.process = subprocess.Popen(
            [binary, "serve", "--model", str(model), "--port", "0", "--ctx-size", str(context), "--cache-ram", "256M"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        found = threading.Event()
        self.port = None

        def drain():
            for line in self.process.stderr:
                self.log.append(line.rstrip("\n"))
                match = re.search(r"listening on http://\S+ \(port (\d+)\)", line)
                if match and self.port is None:
                    self.port = int(match.group(1))
                    found.set()
            found.set()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        try:
            self._wait_until_healthy(found)
        except BaseException:  # also ^C/SIGTERM while it starts: never leave it running
            self.stop()
            raise

    def _wait_until_healthy(self, found: threading.Event):
        if not found.wait(120) or self.port is None:
            raise RuntimeError("glmserve did not start:\n" + "\n".join(self.log))
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=10) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("glmserve's /health did not answer 200:\n" + "\n".join(self.log))
            time.sleep(0.2)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join(10)


def glmserve_binary() -> str:
    """GLMSERVE_BIN, else the release build (`swift build -c release --show-bin-path`)."""
    if os.environ.get("GLMSERVE_BIN"):
        binary = Path(os.environ["GLMSERVE_BIN"])
        where = "GLMSERVE_BIN"
    else:
        where = "the release build"
        try:
            bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, check=True,
                                     capture_output=True, text=True, timeout=300).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            print(f"check_aider: cannot ask SwiftPM for the release build's folder ({error}); set GLMSERVE_BIN",
                  file=sys.stderr)
            raise SystemExit(2)
        binary = Path(bin_dir) / "glmserve"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        print(f"check_aider: {binary} ({where}) is not an executable file: build it with "
              "`swift build -c release --product glmserve`, or set GLMSERVE_BIN", file=sys.stderr)
        raise SystemExit(2)
    return str(binary)


def ensure_aider() -> str:
    """.venv-aider/bin/aider at the pinned version, installing it when missing or different."""
    pinned = pinned_aider_version()
    aider = VENV / "bin" / "aider"
    if aider.exists() and aider_version(str(aider)) == pinned:
        return str(aider)
    print(f"== installing aider-chat {pinned} into {VENV.relative_to(REPO)} (pip install -r "
          f"{REQUIREMENTS.relative_to(REPO)})", flush=True)
    start = time.monotonic()
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    result = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                             "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        raise SystemExit(2)
    print(f"   installed in {time.monotonic() - start:.1f} s", flush=True)
    version = aider_version(str(aider))
    if version != pinned:
        print(f"check_aider: {aider} reports version {version}, expected {pinned}", file=sys.stderr)
        raise SystemExit(2)
    return str(aider)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="model folder (default: Models/GLM-Tiny)")
    parser.add_argument("--message", default=DEFAULT_MESSAGE, help="Aider's --message")
    parser.add_argument("--max-tokens", type=int, default=512, help="max_tokens of each request Aider sends")
    parser.add_argument("--ctx-size", type=int, default=8192, help="the server's --ctx-size")
    parser.add_argument("--aider", help="an Aider executable to use instead of .venv-aider (must be the pinned "
                        "version)")
    parser.add_argument("--no-thinking", action="store_true", help="send the thinking switch off "
                        "(chat_template_kwargs.enable_thinking = false) in Aider's requests")
    parser.add_argument("--no-strace", action="store_true", help="do not watch Aider's sockets with strace")
    parser.add_argument("--timeout", type=float, default=600, help="seconds Aider may take")
    args = parser.parse_args()

    aider = args.aider or ensure_aider()
    version = aider_version(aider)
    if version != pinned_aider_version():
        print(f"check_aider: {aider} is Aider {version}, not the pinned {pinned_aider_version()}", file=sys.stderr)
        return 2
    binary = glmserve_binary()
    if args.no_strace is False and shutil.which("strace") is None:
        print("check_aider: strace is not installed: sockets are watched through the proxy trap only")

    # SIGTERM/SIGHUP end the check like ^C does, so the server below is always stopped.
    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    print(f"== glmserve serve --model {args.model} ({binary})", flush=True)
    started = time.monotonic()
    server = None
    try:
        server = Server(binary, args.model, args.ctx_size)
        print(f"   listening on {server.base_url}", flush=True)
        with tempfile.TemporaryDirectory(prefix="glmserve-aider-") as workdir:
            run = run_aider(server.base_url, aider, Path(workdir), message=args.message, max_tokens=args.max_tokens,
                            context=args.ctx_size, thinking=not args.no_thinking,
                            use_strace=False if args.no_strace else None,
                            timeout=args.timeout)
    except KeyboardInterrupt:
        print("check_aider: interrupted", file=sys.stderr)
        return 1
    except RuntimeError as error:  # the server did not start
        print(f"check_aider: {error}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()

    print(f"== Aider {version}")
    print(run.report())
    requests = [line for line in server.log if "/v1/chat/completions" in line or "generation" in line]
    print("-- server log (requests) --")
    print("\n".join(requests) or "(no chat request reached the server)")
    print(f"== elapsed: Aider {run.elapsed:.1f} s, whole check (server start to stop) "
          f"{time.monotonic() - started:.1f} s")
    problems = run.problems()
    if server.process.returncode != 0:
        problems.append(f"glmserve exited with status {server.process.returncode} on SIGTERM")
    if not any("POST /v1/chat/completions" in line and '" 200 ' in line for line in server.log):
        problems.append("the server logged no successful POST /v1/chat/completions")
    if problems:
        print("FAIL: " + "\n      ".join(problems))
        return 1
    print("PASS: Aider exited 0 and printed the model's answer: " + repr(run.answers[-1][:300]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
