"""Start ``shield-lightrag`` as a real process for tests (127.0.0.1, a temp config YAML)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.procs import ManagedProcess, free_port

SCRIPT = Path(sys.executable).with_name("shield-lightrag")


def command() -> list[str]:
    """The installed ``shield-lightrag`` script, or the module if the script is missing."""
    if SCRIPT.exists():
        return [str(SCRIPT)]
    return [sys.executable, "-m", "shield_rag.lightrag_service.main"]


# Anything that tried to leave the machine would go through this dead proxy and fail.
OFFLINE_ENV = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "HF_HUB_OFFLINE": "1",
    "TIKTOKEN_CACHE_DIR": "",  # the service must set it itself
}


@dataclass
class LightRAGProcess:
    process: ManagedProcess
    url: str
    metrics_url: str
    working_dir: Path
    config_path: Path
    api_key: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}

    def client(self, timeout: float = 120.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def wait_healthy(self, timeout: float = 90.0) -> None:
        self.process.wait_answering(
            lambda: httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200,
            timeout,
            f"shield-lightrag at {self.url} to be healthy",
        )

    def stop(self) -> int | None:
        return self.process.stop(timeout=30.0)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def start_lightrag(
    tmp_dir: Path,
    *,
    qdrant_url: str,
    ollama_url: str,
    qdrant_api_key: str | None = None,
    api_key: str | None = None,
    workspace: str = "shield",
    service: dict[str, Any] | None = None,
    name: str = "lightrag",
    wait: bool = True,
    sections: dict[str, dict[str, Any]] | None = None,
) -> LightRAGProcess:
    """Write a config under ``tmp_dir``/``name`` and start the service; wait for /health.

    ``sections`` adds keys to the configuration's sections (e.g. ``{"router": {...}}``)."""
    home = tmp_dir / name
    port, metrics_port = free_port(), free_port()
    qdrant: dict[str, Any] = {"url": qdrant_url, "vector_size": 384}
    if qdrant_api_key:
        qdrant["api_key"] = qdrant_api_key
    lightrag: dict[str, Any] = {"url": f"http://127.0.0.1:{port}"}
    if api_key:
        lightrag["api_key"] = api_key
    config = {
        # The LightRAG service does not use Redis, but every Shield config names one.
        "redis": {"url": "redis://127.0.0.1:1/0"},
        "qdrant": qdrant,
        "ollama": {"url": ollama_url, "embed_model": "all-minilm", "llm_model": "qwen2.5:0.5b"},
        "lightrag": lightrag,
        "lightrag_service": {
            "host": "127.0.0.1",
            "port": port,
            "metrics_host": "127.0.0.1",
            "metrics_port": metrics_port,
            "working_dir": str(home / "work"),
            "workspace": workspace,
            "startup_retry_seconds": 0.5,
            **(service or {}),
        },
        "logging": {"level": "INFO"},
    }
    for section, values in (sections or {}).items():
        config[section] = {**config.get(section, {}), **values}
    config_path = write_config(home / "config.yaml", config)
    proc = ManagedProcess(
        name, [*command(), "--config", str(config_path)], home, env=OFFLINE_ENV, cwd=home
    )
    running = LightRAGProcess(
        process=proc.start(),
        url=f"http://127.0.0.1:{port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        working_dir=home / "work",
        config_path=config_path,
        api_key=api_key,
    )
    if wait:
        try:
            running.wait_healthy()
        except AssertionError:
            running.stop()
            raise
    return running
