"""The machine a benchmark ran on: CPU model, cores, RAM, OS, Python, git commit, date.

Figures mean little without it: the report prints this block above every table.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    ram_gib: float
    os: str
    kernel: str
    python: str
    commit: str
    date: str  # ISO 8601, UTC, when the run started

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, in the order the report prints them."""
        return [
            ("CPU", self.cpu),
            ("Cores", str(self.cores)),
            ("RAM", f"{self.ram_gib:.1f} GiB"),
            ("OS", f"{self.os} (kernel {self.kernel})"),
            ("Python", self.python),
            ("Git commit", self.commit),
            ("Date", self.date),
        ]


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _unused, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _ram_gib(meminfo: Path = Path("/proc/meminfo")) -> float:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        return 0.0


def _os_name() -> str:
    try:
        release = platform.freedesktop_os_release()
        return release.get("PRETTY_NAME") or release.get("NAME") or platform.system()
    except OSError:
        return f"{platform.system()} {platform.release()}"


def _commit(repo: Path) -> str:
    """The checked-out commit, with ``+dirty`` when the work tree has changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head}+dirty" if dirty else head


def describe(repo: Path) -> Machine:
    """Describe this machine and the checkout at ``repo``."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        ram_gib=_ram_gib(),
        os=_os_name(),
        kernel=platform.release(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        commit=_commit(repo),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
