"""What the grafana_alerts checks observe: Prometheus' API, the webhook sink's record, the
scenario's own variables, and the MCP server (the faults are driven through it).

Everything is reached from the controller through ports published on 127.0.0.1, except the
webhook sink's file, which is read on the host (testinfra over podman exec).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.support.mcp import session, text_of
from tests.support.wait import wait_until

SCENARIO = yaml.safe_load(Path(__file__).parents[1].joinpath("molecule.yml").read_text())
VARS: dict[str, Any] = SCENARIO["provisioner"]["inventory"]["group_vars"]["all"]

PROMETHEUS = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_PROMETHEUS_PORT', '19090')}"
ALERTMANAGER = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_ALERTMANAGER_PORT', '19093')}"
MCP_URL = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_ALERTS_MCP_PORT', '18611')}/mcp"
SINK_FILE = "/var/lib/shield-webhook-sink/notifications.jsonl"
GRAFANA_ALERTS_FILE = "/etc/grafana/provisioning/alerting/shield-rag-alerts.yml"

_UNITS = {"s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    """A Prometheus duration of one unit ("20s", "5m") in seconds."""
    match = re.fullmatch(r"(\d+)([smh])", str(duration))
    assert match, f"unsupported duration {duration!r}"
    return int(match.group(1)) * _UNITS[match.group(2)]


SCRAPE = seconds(VARS["monitoring_prometheus_scrape_interval"])
EVALUATION = seconds(VARS["monitoring_prometheus_evaluation_interval"])
# Slack for a busy two-core machine on top of what the rules and intervals allow.
MARGIN = 20.0


def firing_deadline(for_: str, window: str = "0s") -> float:
    """Seconds from a fault until its alert must fire: the rule's window (if it looks back
    over one), then its `for`, two scrape intervals for the fault to show in the data, one
    evaluation interval, and MARGIN."""
    return seconds(window) + seconds(for_) + 2 * SCRAPE + EVALUATION + MARGIN


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """wait_until, polling Prometheus, Alertmanager and the sink once a second by default."""
    return wait_until(predicate, timeout, what, interval=interval)


# --- Prometheus ---------------------------------------------------------------------------


def prometheus(path: str, **params: str) -> Any:
    response = httpx.get(f"{PROMETHEUS}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def query(promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant query: (labels, value) of each series of the result."""
    data = prometheus("query", query=promql)
    assert data["resultType"] == "vector", data
    return [(s["metric"], float(s["value"][1])) for s in data["result"]]


def active_alerts() -> list[dict[str, Any]]:
    return prometheus("alerts")["alerts"]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a dict key
class Expected:
    """An alert the fault must raise: its name and labels the firing series must carry."""

    alertname: str
    labels: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0

    def matches(self, alert: dict[str, Any]) -> bool:
        labels = alert["labels"]
        return labels.get("alertname") == self.alertname and all(
            labels.get(k) == v for k, v in self.labels.items()
        )

    def __str__(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.labels.items())
        return f"{self.alertname}{{{extra}}}" if extra else self.alertname


@dataclass
class Seen:
    pending: float | None = None
    firing: float | None = None


def watch_alerts(expected: list[Expected], since: float) -> dict[Expected, Seen]:
    """Poll Prometheus' alerts every second until every expected alert fires or passes its
    deadline (seconds after ``since``, a time.monotonic() value). Records when each was first
    seen pending and firing, in seconds after ``since``."""
    seen = {e: Seen() for e in expected}
    last_deadline = since + max(e.deadline for e in expected)
    while time.monotonic() < last_deadline:
        now = time.monotonic() - since
        alerts = active_alerts()
        for e, s in seen.items():
            states = {a["state"] for a in alerts if e.matches(a)}
            if "pending" in states and s.pending is None:
                s.pending = now
            if "firing" in states and s.firing is None:
                s.firing = now
        if all(s.firing is not None for s in seen.values()):
            break
        time.sleep(1.0)
    return seen


def firing_names() -> set[str]:
    return {a["labels"]["alertname"] for a in active_alerts() if a["state"] == "firing"}


def suppressed_by_inhibition(e: Expected) -> list[dict[str, Any]]:
    """Alertmanager's alerts matching ``e`` that an inhibition rule holds back."""
    response = httpx.get(f"{ALERTMANAGER}/api/v2/alerts", timeout=10)
    response.raise_for_status()
    return [
        a
        for a in response.json()
        if e.matches(a) and a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
    ]


# --- the webhook sink ---------------------------------------------------------------------


def notifications(host: Any) -> list[dict[str, Any]]:
    """Every notification the sink recorded, oldest first."""
    content = host.run(f"cat {SINK_FILE} 2>/dev/null").stdout
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def delivered(host: Any, e: Expected, status: str, after: float) -> dict[str, Any] | None:
    """The first alert matching ``e`` with ``status`` in a notification received after the
    unix time ``after``."""
    for record in notifications(host):
        if record["received"] < after:
            continue
        for alert in record["body"].get("alerts", []):
            if alert["status"] == status and e.matches(alert):
                return {"alert": alert, "record": record}
    return None


# --- the MCP server -------------------------------------------------------------------------


def call_tools(token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[bool, Any]]:
    """Several tool calls in one MCP session, in order."""

    async def run() -> list[tuple[bool, Any]]:
        out = []
        async with session(MCP_URL, token) as s:
            for name, arguments in calls:
                result = await s.call_tool(name, arguments)
                out.append(
                    (True, text_of(result))
                    if result.is_error
                    else (False, result.structured_content)
                )
        return out

    return asyncio.run(run())


def call_tool(token: str, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    """One MCP tool call through the published port: (is_error, structured result or text)."""
    return call_tools(token, [(name, arguments)])[0]
