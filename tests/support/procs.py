"""Start and stop real processes for tests, by PID; ``ManagedProcess.wait_answering`` waits
for one to serve (other waits: tests.support.wait)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from tests.support.wait import wait_until

# free_port() hands out ports below the kernel's ephemeral range (which bind to port 0 and
# outgoing connections draw from), from a block of its own per pytest-xdist worker, in turn: a
# port given to one test is not given again, by this process or by another worker, while its
# server is still starting. Block 0 is a run without xdist; worker gw0 is block 1, and so on.
PORT_BASE = 20000
PORT_BLOCK = 1000
_next: list[int] = []


def _port_block() -> range | None:
    """This process's ports, or None when they would reach into the ephemeral range."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    start = PORT_BASE + index * PORT_BLOCK
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    return range(start, start + PORT_BLOCK) if start + PORT_BLOCK <= ephemeral else None


def _bind(port: int) -> int | None:
    """``port`` (0: one the kernel chooses) if it can be bound on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(s.getsockname()[1])


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now, and that no other free_port()
    of this test run (this process or another xdist worker) returns soon after."""
    block = _port_block()
    if block is not None:
        if not _next:  # start anywhere in the block: two runs side by side rarely meet
            _next.append(random.randrange(len(block)))
        for _unused in range(len(block)):
            port = block[_next[0] % len(block)]
            _next[0] += 1
            if _bind(port):
                return port
    found = _bind(0)  # no block (an unusual ephemeral range), or none of it free
    assert found is not None
    return found


def http_ok(url: str, headers: dict[str, str] | None = None) -> Callable[[], bool]:
    def check() -> bool:
        r = httpx.get(url, timeout=2.0, headers=headers)
        return r.status_code < 400

    return check


class ManagedProcess:
    """A child process started by a test; stopped by its own PID only."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(timeout=10)

    def wait_answering(self, check: Callable[[], object], timeout: float, what: str) -> None:
        """Poll ``check`` until it is truthy. If the process exits first, or the deadline
        passes, stop it and raise an AssertionError that names ``what`` and ends with the
        process's log."""
        try:
            wait_until(lambda: not self.alive() or check(), timeout, what)
            if not self.alive():
                assert self.proc is not None
                raise AssertionError(f"{self.name} exited with code {self.proc.returncode}")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log_tail()}") from exc

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


PYTHON = sys.executable
