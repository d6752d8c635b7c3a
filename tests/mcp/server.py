"""The MCP tests' processes: the data plane with an orchestrator API key (KeyedStack) and
``shield-mcp`` itself (McpServer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.integration.stack import Stack, metric_value
from tests.support.procs import PYTHON, ManagedProcess, free_port, http_ok
from tests.support.tokens import secret, unique

ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


class KeyedStack(Stack):
    """The data plane with ``orchestrator.api_key`` set (the MCP server must send it)."""

    api_key = unique("orch-", 16)

    def settings_dict(self) -> dict[str, Any]:
        data = super().settings_dict()
        data["orchestrator"]["api_key"] = self.api_key
        return data

    def http(self, timeout: float = 30.0, *, as_mcp: bool = False) -> httpx.Client:
        """A client with the orchestrator's key; with ``as_mcp`` it names the caller the MCP
        server's shared token is (``mcp:shield-mcp-client``), whose jobs the MCP tools see."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if as_mcp:
            headers["X-Shield-Client"] = "mcp:shield-mcp-client"
        return httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)


def start_stack(root: Path, kind: type[KeyedStack] = KeyedStack, **kwargs: Any) -> KeyedStack:
    """A started ``kind`` (stopped again if it fails to start)."""
    stack = kind(root, **kwargs)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    return stack


class McpServer:
    """``python -m shield_rag.mcp.main`` as a process, configured from a stack's settings."""

    def __init__(
        self,
        stack: Stack,
        root: Path,
        *,
        orchestrator_url: str | None = None,
        token: str | None = None,
        port: int | None = None,
        **mcp: Any,
    ) -> None:
        self.stack = stack
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.token = token or secret(24)
        self.mcp_settings = {
            "host": "127.0.0.1",
            "port": self.port,
            "metrics_port": self.metrics_port,
            "orchestrator_url": orchestrator_url or stack.base_url,
            "auth_token": self.token,
            **mcp,
        }
        self.config = root / f"mcp-{self.port}.yml"
        self.write_config(self.config, self.mcp_settings)
        self.process: ManagedProcess | None = None
        self.logs = root / "logs"

    def write_config(self, path: Path, mcp: dict[str, Any]) -> None:
        data = self.stack.settings_dict()
        data["mcp"] = mcp
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def stdio_config(self) -> Path:
        """A config for a stdio server started by an MCP client (no metrics port)."""
        path = self.config.with_name(f"mcp-stdio-{self.port}.yml")
        self.write_config(path, {**self.mcp_settings, "metrics_port": 0, "transport": "stdio"})
        return path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> McpServer:
        argv = [PYTHON, "-m", "shield_rag.mcp.main", "--config", str(self.config)]
        self.process = ManagedProcess(f"mcp-{self.port}", argv, self.logs, env=ENV).start()
        self.process.wait_answering(
            http_ok(f"http://127.0.0.1:{self.port}/healthz"), 30, "shield-mcp /healthz"
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return metric_value(self.metrics(), name, labels) or 0.0

    def healthz(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json()

    def breaker_state(self) -> float:
        value = metric_value(self.metrics(), "circuit_breaker_state", {"target": "orchestrator"})
        assert value is not None, "circuit_breaker_state{target=orchestrator} is missing"
        return value
