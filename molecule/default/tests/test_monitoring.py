"""The monitoring role on Debian 12: its units run, hardened, and Prometheus sees the stack.

Each scrape target is up, every alert and SLO rule is loaded and evaluates, the configuration
passes promtool and Alertmanager is ready. (grafana_alerts proves the alerts themselves end
to end, on Debian 13.)
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tests.support.molecule import get_on_host
from tests.support.wait import wait_until

UNITS = [
    "prometheus.service",
    "prometheus-alertmanager.service",
    "prometheus-blackbox-exporter.service",
    "prometheus-node-exporter.service",
    "prometheus-redis-exporter.service",
]
MAX_EXPOSURE = 2.5
PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
# Scrape jobs and their targets on this one host (2 worker instances; the readiness probes:
# orchestrator, Qdrant, LightRAG, MCP server; the edge's HAProxy exporter).
JOBS = {
    "shield-mcp": 1,
    "shield-orchestrator": 1,
    "shield-lightrag": 1,
    "shield-workers": 2,
    "qdrant": 1,
    "redis": 1,
    "node": 1,
    "shield-readiness": 4,
    "prometheus": 1,
    "alertmanager": 1,
    "blackbox": 1,
    "shield-edge": 1,
}
# Two scrape intervals (15 s) after the services came up, and some margin.
SETTLE_SECONDS = 60


def api(host: Any, path: str) -> Any:
    status, body = get_on_host(host, f"{PROMETHEUS}/api/v1/{path}")
    assert status == 200, body
    reply = json.loads(body)
    assert reply["status"] == "success", reply
    return reply["data"]


@pytest.mark.parametrize("unit", UNITS)
def test_monitoring_unit_is_enabled_and_running(host: Any, unit: str) -> None:
    service = host.service(unit)
    assert service.is_enabled, f"{unit} is not enabled"
    assert service.is_running, f"{unit} is not running"


@pytest.mark.parametrize("unit", UNITS)
def test_monitoring_unit_exposure_is_at_most_the_limit(host: Any, unit: str) -> None:
    out = host.run(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, out.stdout[-2000:]


def test_prometheus_scrapes_every_target_of_the_stack(host: Any) -> None:
    def all_up() -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = api(host, "targets?state=active")["activeTargets"]
        down = [
            (t["labels"]["job"], t["scrapeUrl"], t["lastError"])
            for t in targets
            if t["health"] != "up"
        ]
        assert down == [], down
        return targets

    targets = wait_until(all_up, SETTLE_SECONDS, "every scrape target up", interval=3)
    jobs: dict[str, int] = {}
    for t in targets:
        jobs[t["labels"]["job"]] = jobs.get(t["labels"]["job"], 0) + 1
    assert jobs == JOBS


def test_every_rule_is_loaded_and_evaluates(host: Any) -> None:
    rules = [r for g in api(host, "rules")["groups"] for r in g["rules"]]
    assert len(rules) > 10, rules
    broken = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
    assert broken == []


def test_the_configuration_passes_promtool(host: Any) -> None:
    out = host.run("promtool check config /etc/prometheus/prometheus.yml")
    assert out.rc == 0, out.stdout + out.stderr


def test_alertmanager_is_ready_and_knows_prometheus(host: Any) -> None:
    status, body = get_on_host(host, f"{ALERTMANAGER}/-/ready")
    assert status == 200, body
    managers = api(host, "alertmanagers")["activeAlertmanagers"]
    assert [m["url"] for m in managers] == [f"{ALERTMANAGER}/api/v2/alerts"]
