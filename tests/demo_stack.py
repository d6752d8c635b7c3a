"""``make demo``, last step: use the stack that tests/demo-stack.sh deployed into a container.

tests/demo-stack.sh deploys the stack with the collection's playbooks/site.yml into one local
systemd container and publishes the orchestrator, MCP server, LightRAG service and Qdrant on
the controller's 127.0.0.1. This module then, through those ports only: ingests the sample
documents (``POST /ingest-async``) and polls their jobs, asks two vector searches and two
LightRAG questions through the orchestrator, one ``qdrant_find`` through the MCP server with
the official MCP SDK client (streamable HTTP, bearer token), and prints the answers, the URLs
and which parts are stand-ins. Secrets are read from the demo's secrets file, never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.demo_common import (
    MCP_QUESTION,
    ask,
    format_hit,
    ingest,
    print_answer,
    print_standins,
)
from tests.support.mcp import session, text_of
from tests.support.wait import wait_until


def wait_ready(http: httpx.Client, timeout: float) -> None:
    """Poll the orchestrator's /readyz (Redis, Qdrant, Ollama, LightRAG) through its port;
    TimeoutError after ``timeout`` s."""

    def ready() -> bool:
        r = http.get("/readyz")
        if r.status_code != 200:
            raise RuntimeError(f"{r.status_code} {r.text[:300]}")
        return True

    wait_until(ready, timeout, f"{http.base_url}readyz", interval=0.5)


async def mcp_find(url: str, token: str, question: str) -> str:
    async with session(url, token) as mcp:
        result = await mcp.call_tool("qdrant_find", {"query": question, "limit": 1})
    if result.is_error:
        raise RuntimeError(f"qdrant_find failed: {text_of(result)}")
    hits = (result.structured_content or {}).get("results") or []
    return format_hit(hits[0]) if hits else "(no result)"


def reachable(url: str, headers: dict[str, str]) -> str:
    """What GET ``url`` answers through the published port, for the service list."""
    try:
        r = httpx.get(url, headers=headers, timeout=10)
    except httpx.TransportError as exc:
        return f"NOT reachable: {exc!r}"
    return f"HTTP {r.status_code}"


# Run inside the container: Prometheus listens on its loopback only. A Prometheus the converge
# has just started has not scraped every target yet (health "unknown"): wait for its first
# scrape of each, at most three scrape intervals, before counting what is up.
_PROMETHEUS_SUMMARY = """
import json, time, urllib.request
def get(path):
    with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/" + path, timeout=10) as r:
        return json.load(r)["data"]
deadline = time.monotonic() + 45
while True:
    targets = get("targets?state=active")["activeTargets"]
    if all(t["health"] != "unknown" for t in targets) or time.monotonic() > deadline:
        break
    time.sleep(1)
firing = [a["labels"]["alertname"] for a in get("alerts")["alerts"] if a["state"] == "firing"]
up = sum(t["health"] == "up" for t in targets)
line = f"{up} of {len(targets)} scrape targets up"
down = sorted({t["labels"].get("job", "?") for t in targets if t["health"] == "down"})
unscraped = sum(t["health"] == "unknown" for t in targets)
if down:
    line += f" (down: {', '.join(down)})"
if unscraped:
    line += f" ({unscraped} not scraped yet after 45 s)"
print(f"{line}, alerts firing: {', '.join(firing) or 'none'}")
"""


def monitoring(container: str) -> str:
    """Prometheus' view of the stack, asked inside the container."""
    out = subprocess.run(
        ["podman", "exec", container, "python3", "-c", _PROMETHEUS_SUMMARY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else f"NOT answering: {out.stderr.strip()}"


def services(args: argparse.Namespace, secrets: dict[str, Any]) -> None:
    qdrant = reachable(
        f"{args.qdrant_url}/collections", {"api-key": secrets["shield_qdrant_api_key"]}
    )
    lightrag = reachable(f"{args.lightrag_url}/health", {})
    c, s = args.container, args.secrets
    print(f"\nServices (container {c}, published on the controller's 127.0.0.1 only):")
    print(f"  orchestrator API   {args.orchestrator_url}  (OpenAPI docs at /docs)")
    print(f"  MCP server         {args.mcp_url}  (streamable HTTP, bearer token)")
    print(f"  LightRAG service   {args.lightrag_url}  (/health: {lightrag})")
    print(f"  Qdrant (STAND-IN)  {args.qdrant_url}  (/collections: {qdrant})")
    print("  Inside the container only (127.0.0.1 there): Redis :6379, Ollama (STAND-IN) :11434,")
    print("  metrics: orchestrator :9612, MCP :9611, LightRAG :9613, workers :9630-9631.")
    print("  Prometheus :9090 and Alertmanager :9093 (playbooks/monitoring.yml, from site.yml):")
    print(f"    {monitoring(c)}")
    print("  Grafana provisioning (datasource, 5 dashboards, 12 alerts): /etc/grafana/provisioning")
    print("  (Grafana itself is not installed here; docs/dashboards.md describes every panel).")
    print_standins(
        "Redis, the LightRAG service, the orchestrator, two workers and the MCP server, deployed "
        "by the collection's roles (playbooks/site.yml) as hardened systemd services. The qdrant "
        "role ran for real too; the release archive it installed is the stand-in's."
    )
    print(f"\nSecrets (mode 0600, reused by the next `make demo`): {s}")
    print("  orchestrator API: 'Authorization: Bearer <shield_orchestrator_api_key>'")
    print("Connect Claude Code to the MCP server:")
    print(f"  export SHIELD_MCP__AUTH_TOKEN=$(sed -n 's/^fastmcp_server_auth_token: //p' {s})")
    print(f"  claude mcp add --transport http shield-rag {args.mcp_url} \\")
    print('      --header "Authorization: Bearer $SHIELD_MCP__AUTH_TOKEN"')
    print(f"Logs: podman exec {c} journalctl -u 'shield-*' -u qdrant -u redis-server")
    stop = "make demo-stop" if c == "shield-demo" else f"SHIELD_DEMO_CONTAINER={c} make demo-stop"
    print(f"Shell: podman exec -it {c} bash      Stop and remove it: {stop}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo_stack", description=__doc__)
    parser.add_argument("--container", required=True)
    parser.add_argument("--secrets", type=Path, required=True)
    parser.add_argument("--orchestrator-url", required=True)
    parser.add_argument("--mcp-url", required=True)
    parser.add_argument("--lightrag-url", required=True)
    parser.add_argument("--qdrant-url", required=True)
    parser.add_argument("--timeout", type=float, default=600, help="ingest deadline (s)")
    args = parser.parse_args()
    secrets = yaml.safe_load(args.secrets.read_text())
    auth = {"Authorization": f"Bearer {secrets['shield_orchestrator_api_key']}"}
    with httpx.Client(base_url=args.orchestrator_url, headers=auth, timeout=120) as http:
        wait_ready(http, timeout=120)
        print(f"Ingesting the sample documents through {args.orchestrator_url} ...")
        ingest(http, timeout=args.timeout)
        ask(http)
    answer = asyncio.run(mcp_find(args.mcp_url, secrets["fastmcp_server_auth_token"], MCP_QUESTION))
    print_answer("MCP qdrant_find", MCP_QUESTION, answer)
    services(args, secrets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
