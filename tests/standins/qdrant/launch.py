"""Start the Qdrant stand-in for a test, or point the test at a real Qdrant.

Tests call ``start_qdrant(tmp_dir)``; it writes a Qdrant ``config.yaml``, runs the stand-in
executable ``bin/qdrant --config-path ...`` (the way the real binary is started) and waits for
``/readyz``. Unpacked, it gives ``(process, url)``; it also carries the API keys and paths.

To run the same tests against a real Qdrant server, set::

    SHIELD_TEST_QDRANT_URL=http://127.0.0.1:6333
    SHIELD_TEST_QDRANT_API_KEY=...            # if the server has one
    SHIELD_TEST_QDRANT_READ_ONLY_API_KEY=...  # optional, for the read-only key tests

Then nothing is started and ``process`` is ``None``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.procs import ManagedProcess, free_port, http_ok
from tests.support.wait import wait_until

QDRANT_DIR = Path(__file__).resolve().parent
QDRANT_BIN = QDRANT_DIR / "bin" / "qdrant"
STANDIN_PACKAGE = QDRANT_DIR / "qdrant_standin"
ENV_URL = "SHIELD_TEST_QDRANT_URL"
ENV_API_KEY = "SHIELD_TEST_QDRANT_API_KEY"
ENV_READ_ONLY_API_KEY = "SHIELD_TEST_QDRANT_READ_ONLY_API_KEY"


def external_qdrant_url() -> str | None:
    """The real Qdrant named by ``SHIELD_TEST_QDRANT_URL``, if any."""
    return os.environ.get(ENV_URL) or None


def standin_env() -> dict[str, str]:
    """Environment for the stand-in executable: its ``#!/usr/bin/env python3`` finds this
    interpreter (which has qdrant-client, fastapi, uvicorn, PyYAML), with
    ``QDRANT_STANDIN_PYTHON`` as the fallback it re-executes with."""
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
        "QDRANT_STANDIN_PYTHON": sys.executable,
    }


def write_config(
    path: Path,
    *,
    port: int,
    storage_path: Path,
    snapshots_path: Path,
    api_key: str | None = None,
    read_only_api_key: str | None = None,
    host: str = "127.0.0.1",
    log_level: str = "INFO",
) -> Path:
    """Write a config.yaml in the real Qdrant layout (with keys the stand-in ignores)."""
    service: dict[str, object] = {"host": host, "http_port": port, "enable_cors": True}
    if api_key:
        service["api_key"] = api_key
    if read_only_api_key:
        service["read_only_api_key"] = read_only_api_key
    config = {
        "log_level": log_level,
        "storage": {
            "storage_path": str(storage_path),
            "snapshots_path": str(snapshots_path),
            "on_disk_payload": True,
            "performance": {"max_search_threads": 0},
        },
        "service": service,
        "cluster": {"enabled": False},
        "telemetry_disabled": True,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class QdrantServer:
    """A running Qdrant for a test: the stand-in (``process`` set) or a real one (``None``).

    Unpacks as ``(process, url)``.
    """

    url: str
    process: ManagedProcess | None = None
    api_key: str | None = None
    read_only_api_key: str | None = None
    config_path: Path | None = None
    storage_path: Path | None = None
    timeout: float = 30.0

    def __iter__(self) -> Iterator[object]:
        return iter((self.process, self.url))

    @property
    def external(self) -> bool:
        return self.process is None

    def headers(self, read_only: bool = False) -> dict[str, str]:
        key = self.read_only_api_key if read_only else self.api_key
        return {"api-key": key} if key else {}

    def start(self) -> QdrantServer:
        assert self.process is not None, "an external Qdrant is not started by the tests"
        self.process.start()
        wait_ready(self.url, self.timeout, self.process)
        return self

    def stop(self) -> int | None:
        """SIGTERM by PID (SIGKILL after a grace period); returns the exit code."""
        return None if self.process is None else self.process.stop()

    def restart(self) -> QdrantServer:
        """Stop by PID and start again on the same config and storage."""
        self.stop()
        return self.start()


def wait_ready(url: str, timeout: float, process: ManagedProcess | None = None) -> None:
    """Poll ``/readyz`` until it answers 2xx; fail early, with its log, if the process dies."""

    what = f"Qdrant at {url} to be ready"
    if process is None:
        wait_until(http_ok(f"{url}/readyz"), timeout, what)
    else:
        process.wait_answering(http_ok(f"{url}/readyz"), timeout, what)


@contextmanager
def start_qdrant(
    tmp_dir: Path,
    *,
    api_key: str | None = None,
    read_only_api_key: str | None = None,
    binary: Path | None = None,
    name: str = "qdrant",
    timeout: float = 30.0,
) -> Iterator[QdrantServer]:
    """Run the stand-in on 127.0.0.1 with its storage under ``tmp_dir``; stop it by PID after.

    ``api_key`` / ``read_only_api_key`` go into ``service.*`` of its config (``None``: no key).
    ``binary`` runs another copy of the stand-in executable (e.g. one from a release archive).
    With ``SHIELD_TEST_QDRANT_URL`` set, yields that server instead (keys from the environment).
    """
    url = external_qdrant_url()
    if url:
        server = QdrantServer(
            url=url.rstrip("/"),
            api_key=os.environ.get(ENV_API_KEY) or None,
            read_only_api_key=os.environ.get(ENV_READ_ONLY_API_KEY) or None,
            timeout=timeout,
        )
        wait_ready(server.url, timeout)
        yield server
        return

    home = tmp_dir / name
    port = free_port()
    config_path = write_config(
        home / "config" / "config.yaml",
        port=port,
        storage_path=home / "storage",
        snapshots_path=home / "snapshots",
        api_key=api_key,
        read_only_api_key=read_only_api_key,
    )
    process = ManagedProcess(
        name,
        [str(binary or QDRANT_BIN), "--config-path", str(config_path)],
        log_dir=home,
        env=standin_env(),
        cwd=home,
    )
    server = QdrantServer(
        url=f"http://127.0.0.1:{port}",
        process=process,
        api_key=api_key,
        read_only_api_key=read_only_api_key,
        config_path=config_path,
        storage_path=home / "storage",
        timeout=timeout,
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
