"""The whole Shield data plane as real processes on 127.0.0.1, for integration tests.

Redis is Debian's ``redis-server`` (AOF on, ``maxmemory`` with ``noeviction`` as deployed, so
admission's memory guard is exercised). Qdrant and Ollama are the stand-ins under
``tests/standins`` unless ``SHIELD_TEST_QDRANT_URL`` / ``SHIELD_TEST_OLLAMA_URL`` name real
services. LightRAG, the orchestrator and the workers are this project's own services.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.standins.ollama.launch import start_ollama
from tests.standins.qdrant.launch import start_qdrant
from tests.support.procs import PYTHON, ManagedProcess, free_port, http_ok
from tests.support.wait import wait_until

REDIS_SERVER_ENV = "SHIELD_TEST_REDIS_SERVER"
REDIS_MAXMEMORY = "64mb"
TERMINAL = {"succeeded", "failed", "dead", "cancelled"}


def redis_server_binary() -> str:
    found = os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server")
    if not found:
        raise RuntimeError(
            "redis-server is not installed: run 'make deps' (apt-get install redis-server) "
            f"or set {REDIS_SERVER_ENV}"
        )
    return found


class Stack:
    def __init__(
        self,
        root: Path,
        *,
        workers: int = 2,
        lightrag: bool = True,
        worker_overrides: dict[str, Any] | None = None,
        crawl_overrides: dict[str, Any] | None = None,
        admission_overrides: dict[str, Any] | None = None,
        redis_maxmemory: str = REDIS_MAXMEMORY,
        redis_appendfsync: str = "always",
        settings_overrides: dict[str, dict[str, Any]] | None = None,
        ollama_args: list[str] | None = None,
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.n_workers = workers
        self.use_lightrag = lightrag
        self.worker_overrides = worker_overrides or {}
        self.crawl_overrides = crawl_overrides or {}
        self.admission_overrides = admission_overrides or {}
        self.redis_maxmemory = redis_maxmemory
        # Merged into each named section last (e.g. {"orchestrator": {"clients": {...}}}).
        self.settings_overrides = settings_overrides or {}
        self.ollama_args = ollama_args or []  # the stand-in's options (--llm-latency ...)
        # "always" (the default here): a write is on disk before Redis answers, so that a test
        # killing Redis loses nothing; the redis role deploys redis_appendfsync (everysec).
        self.redis_appendfsync = redis_appendfsync
        self.redis_port = free_port()
        self.orch_port = free_port()
        self.orch_metrics_port = free_port()
        self.lightrag_port = free_port()
        self.lightrag_metrics_port = free_port()
        self.collection = f"shield_test_{uuid.uuid4().hex[:8]}"
        self.redis: ManagedProcess | None = None
        self.qdrant: ManagedProcess | None = None
        self.ollama: ManagedProcess | None = None
        self.lightrag: ManagedProcess | None = None
        self.orchestrator: ManagedProcess | None = None
        self.extra_orchestrators: list[ManagedProcess] = []
        self.workers: dict[str, ManagedProcess] = {}
        self.worker_metrics: dict[str, int] = {}
        self.qdrant_url = ""
        self.qdrant_api_key: str | None = None
        self.ollama_url = ""
        self.config_path = root / "shield.yml"
        self._exit = contextlib.ExitStack()

    # -- configuration ------------------------------------------------------------------
    def settings_dict(self) -> dict[str, Any]:
        worker = {
            "concurrency": 1,
            "max_attempts": 3,
            "backoff_base_seconds": 0.2,
            "backoff_max_seconds": 2.0,
            "claim_idle_seconds": 3.0,
            "heartbeat_seconds": 0.5,
            "block_ms": 200,
            "drain_timeout_seconds": 20.0,
        }
        worker.update(self.worker_overrides)
        crawl = {"allowed_networks": ["127.0.0.0/8"], "request_timeout": 5.0}
        crawl.update(self.crawl_overrides)
        qdrant: dict[str, Any] = {"url": self.qdrant_url, "collection": self.collection}
        if self.qdrant_api_key:
            qdrant["api_key"] = self.qdrant_api_key
        merged: dict[str, Any] = {
            "redis": {"url": f"redis://127.0.0.1:{self.redis_port}/0"},
            "qdrant": qdrant,
            "ollama": {"url": self.ollama_url, "timeout": 30},
            "lightrag": {
                "url": f"http://127.0.0.1:{self.lightrag_port}",
                "enabled": self.use_lightrag,
                "timeout": 60,
            },
            "lightrag_service": {
                "host": "127.0.0.1",
                "port": self.lightrag_port,
                "metrics_port": self.lightrag_metrics_port,
                "working_dir": str(self.root / "lightrag"),
                "workspace": f"ws_{self.collection}",
            },
            "orchestrator": {
                "host": "127.0.0.1",
                "port": self.orch_port,
                "metrics_port": self.orch_metrics_port,
                "max_upload_bytes": 2 * 1024 * 1024,
                "sse_ping_seconds": 1.0,
            },
            "admission": {**self.admission_overrides},
            "crawl": crawl,
            "chunking": {"max_chars": 600, "overlap_chars": 60},
            "worker": worker,
            "logging": {"level": "INFO"},
        }
        for section, values in self.settings_overrides.items():
            merged.setdefault(section, {}).update(values)
        return merged

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.settings_dict(), sort_keys=False))

    # -- components -----------------------------------------------------------------------
    def start_redis(self) -> None:
        data = self.root / "redis"
        data.mkdir(exist_ok=True)
        argv = [
            redis_server_binary(),
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.redis_appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--maxmemory",
            self.redis_maxmemory,
            "--maxmemory-policy",
            "noeviction",
        ]
        self.redis = ManagedProcess("redis", argv, self.logs).start()
        port = self.redis_port

        def ping() -> bool:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_until(ping, 20, "redis-server")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()

    def _service(self, name: str, module: str, extra: list[str] | None = None) -> ManagedProcess:
        argv = [PYTHON, "-m", module, "--config", str(self.config_path), *(extra or [])]
        env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        return ManagedProcess(name, argv, self.logs, env=env).start()

    def start_lightrag(self) -> None:
        self.lightrag = self._service("lightrag", "shield_rag.lightrag_service.main")
        self._wait_http(self.lightrag, f"http://127.0.0.1:{self.lightrag_port}/health", 90)

    def start_orchestrator(self) -> None:
        self.orchestrator = self._service("orchestrator", "shield_rag.orchestrator.main")
        self._wait_http(self.orchestrator, f"{self.base_url}/healthz", 60)

    def start_extra_orchestrator(self) -> str:
        """Start one more orchestrator replica on the same Redis; returns its base URL."""
        settings = self.settings_dict()
        port, metrics = free_port(), free_port()
        settings["orchestrator"].update({"port": port, "metrics_port": metrics})
        n = len(self.extra_orchestrators) + 2
        path = self.root / f"shield-orchestrator{n}.yml"
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
        argv = [PYTHON, "-m", "shield_rag.orchestrator.main", "--config", str(path)]
        env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        proc = ManagedProcess(f"orchestrator{n}", argv, self.logs, env=env).start()
        self.extra_orchestrators.append(proc)
        url = f"http://127.0.0.1:{port}"
        self._wait_http(proc, f"{url}/healthz", 60)
        return url

    def redis_cli(self) -> Any:
        """A synchronous redis-py client on the test Redis."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=10)

    def start_worker(self, name: str) -> ManagedProcess:
        port = free_port()
        proc = self._service(
            f"worker-{name}",
            "shield_rag.worker.main",
            ["--name", name, "--metrics-port", str(port)],
        )
        self.workers[name] = proc
        self.worker_metrics[name] = port
        self._wait_http(proc, f"http://127.0.0.1:{port}/metrics", 60)
        return proc

    def _wait_http(self, proc: ManagedProcess, url: str, timeout: float) -> None:
        proc.wait_answering(http_ok(url), timeout, f"{proc.name} at {url}")

    def start(self) -> Stack:
        self.start_redis()
        server = self._exit.enter_context(start_qdrant(self.root, api_key=f"qk-{uuid.uuid4().hex}"))
        self.qdrant_server = server
        self.qdrant, self.qdrant_url, self.qdrant_api_key = (
            server.process,
            server.url,
            server.api_key,
        )
        self.ollama, self.ollama_url = start_ollama(self.root, extra_args=self.ollama_args)
        self.write_config()
        if self.use_lightrag:
            self.start_lightrag()
        self.start_orchestrator()
        for i in range(self.n_workers):
            self.start_worker(f"w{i + 1}")
        wait_until(
            lambda: self.http().get("/readyz").status_code == 200, 60, "orchestrator readiness"
        )
        return self

    def stop(self) -> None:
        procs = [
            *self.workers.values(),
            *self.extra_orchestrators,
            self.orchestrator,
            self.lightrag,
            self.ollama,
            self.redis,
        ]
        for proc in procs:
            if proc is not None:
                proc.stop()
        self._exit.close()

    def logs_tail(self) -> str:
        procs = [*self.workers.values(), self.orchestrator, self.lightrag]
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(40)}" for p in procs if p is not None)

    # -- client helpers ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.orch_port}"

    def http(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def job(self, job_id: str) -> dict[str, Any]:
        with self.http() as c:
            r = c.get(f"/jobs/{job_id}")
            r.raise_for_status()
            return r.json()

    def wait_job(
        self,
        job_id: str,
        timeout: float = 90.0,
        statuses: set[str] | frozenset[str] = frozenset(TERMINAL),
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def done() -> bool:
            seen.update(self.job(job_id))
            return seen["status"] in statuses

        try:
            wait_until(done, timeout, f"job {job_id} to reach {sorted(statuses)}", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last state {seen}\n{self.logs_tail()}") from exc
        return seen

    def metrics(self, port: int) -> str:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


@contextlib.contextmanager
def running_stack(root: Path, **options: Any) -> Iterator[Stack]:
    """Start a :class:`Stack` and stop every process of it afterwards, even on failure."""
    stack = Stack(root, **options)
    try:
        yield stack.start()
    finally:
        stack.stop()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """Read one sample from Prometheus text exposition (None if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != name:
                continue
            if labels and any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            return float(sample.value)
    return None


def elapsed(start: float) -> float:
    return time.monotonic() - start
