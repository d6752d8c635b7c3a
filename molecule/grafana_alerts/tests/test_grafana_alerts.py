"""Monitoring on a deployed stack: real faults raise real alerts, and they resolve.

In file order (each phase needs the one before): the monitoring host's state; every scrape
target up and no alert firing; the workers stopped while jobs arrive (queue alerts); the
orchestrator stopped (the MCP server's breaker opens); Qdrant stopped (the orchestrator runs
but is not ready). For each fault: Prometheus shows the alert pending, then firing within
its `for` + two scrape intervals + margin; Alertmanager delivers `firing` to the webhook
sink, except the readiness alert of a service whose own target is down, which it inhibits;
every Grafana alert mirroring a firing alert returns its firing condition when its query
runs on this Prometheus, and a mirror of an inactive alert does not; after the repair,
`resolved` is delivered.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import yaml
from observe import (
    GRAFANA_ALERTS_FILE,
    VARS,
    Expected,
    active_alerts,
    call_tool,
    call_tools,
    delivered,
    firing_deadline,
    firing_names,
    prometheus,
    query,
    suppressed_by_inhibition,
    wait_for,
)
from phases import alerts_delivered, alerts_fire, grafana_mirrors, resolved
from tests.support.molecule import mcp_token, run_secrets

UNITS = [
    "prometheus.service",
    "prometheus-alertmanager.service",
    "prometheus-blackbox-exporter.service",
    "prometheus-node-exporter.service",
    "prometheus-redis-exporter.service",
]
LISTENERS = [
    ("0.0.0.0", 9090),  # Prometheus (published for the checks)
    ("0.0.0.0", 9093),  # Alertmanager (published for the checks)
    ("127.0.0.1", 9115),  # blackbox exporter
    ("127.0.0.1", 9100),  # node exporter
    ("127.0.0.1", 9121),  # Redis exporter
]
MAX_EXPOSURE = 2.5
# Scrape jobs and how many targets each has on this one host (2 worker instances; the
# readiness probes: orchestrator, Qdrant, LightRAG, MCP server).
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
}
JOBS_SUBMITTED = 5
# What the phases hand on (the figures the terminal summary prints are in phases.py).
# Every test takes the `host` fixture, used or not: pytest groups the tests by testinfra's
# host parameter, and a test without it would run after all the others, out of file order.
STATE: dict[str, Any] = {}


# --- the monitoring host --------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_monitoring_unit_is_enabled_and_running(host: Any, unit: str) -> None:
    service = host.service(unit)
    assert service.is_enabled, f"{unit} is not enabled"
    assert service.is_running, f"{unit} is not running"


@pytest.mark.parametrize(("address", "port"), LISTENERS)
def test_monitoring_listens(host: Any, address: str, port: int) -> None:
    assert host.socket(f"tcp://{address}:{port}").is_listening


@pytest.mark.parametrize("unit", UNITS)
def test_monitoring_unit_exposure_is_at_most_the_limit(host: Any, unit: str) -> None:
    out = host.run(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, out.stdout[-2000:]


def test_secret_files_are_readable_by_prometheus_only(host: Any) -> None:
    key = host.file("/etc/prometheus/qdrant_api_key")
    assert (key.user, key.group, key.mode) == ("root", "prometheus", 0o640)
    assert key.content_string.strip() == run_secrets()["SHIELD_MOLECULE_QDRANT_API_KEY"]
    env = host.file("/etc/prometheus/redis-exporter.env")
    assert (env.user, env.mode) == ("root", 0o600)
    assert run_secrets()["SHIELD_MOLECULE_REDIS_PASSWORD"] in env.content_string


def test_monitoring_secrets_are_not_in_config_files_or_the_journal(host: Any) -> None:
    for name in ("SHIELD_MOLECULE_QDRANT_API_KEY", "SHIELD_MOLECULE_REDIS_PASSWORD"):
        secret = run_secrets()[name]
        in_config = host.run(f"grep -rlF -- '{secret}' /etc/prometheus /etc/grafana").stdout
        # Only the two files made for them (tested above) may hold them.
        assert set(in_config.split()) <= {
            "/etc/prometheus/qdrant_api_key",
            "/etc/prometheus/redis-exporter.env",
        }, in_config
        journal = host.run(f"journalctl --no-pager -o cat | grep -cF -- '{secret}'")
        assert journal.stdout.strip() == "0", f"{name} is in the journal"


def test_grafana_provisioning_is_rendered_without_grafana(host: Any) -> None:
    for path in (
        "/etc/grafana/provisioning/datasources/shield-rag.yml",
        "/etc/grafana/provisioning/dashboards/shield-rag.yml",
        GRAFANA_ALERTS_FILE,
    ):
        assert host.file(path).content_string.startswith("#\n# Ansible managed"), path
    datasource = yaml.safe_load(
        host.file("/etc/grafana/provisioning/datasources/shield-rag.yml").content_string
    )["datasources"][0]
    assert datasource["uid"] == "shield-prometheus"
    assert datasource["url"].endswith(":9090"), datasource
    dashboards = host.run("ls /var/lib/grafana/dashboards").stdout.split()
    assert len([d for d in dashboards if d.endswith(".json")]) == 5, dashboards
    assert not host.package("grafana").is_installed


# --- a healthy stack ------------------------------------------------------------------------


def test_every_target_is_scraped_and_up(host: Any) -> None:
    def all_up() -> dict[str, int] | None:
        targets = prometheus("targets", state="active")["activeTargets"]
        if any(t["health"] != "up" for t in targets):
            return None
        counts: dict[str, int] = {}
        for t in targets:
            counts[t["labels"]["job"]] = counts.get(t["labels"]["job"], 0) + 1
        return counts

    counts = wait_for(all_up, 120, "every target up")
    assert counts == JOBS


def test_every_rule_is_loaded_healthy_and_nothing_fires(host: Any) -> None:
    names = set()
    for rule_file in ("shield-alerts.yml", "shield-slo.yml"):
        rendered = yaml.safe_load(host.file(f"/etc/prometheus/rules/{rule_file}").content_string)
        names |= {r["alert"] for g in rendered["groups"] for r in g["rules"] if "alert" in r}
    loaded = [r for g in prometheus("rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in loaded if r["type"] == "alerting"} == names
    assert len(names) == 22
    # A rule whose PromQL fails at evaluation time reports health "err" (after one round).
    wait_for(
        lambda: all(
            r.get("health") == "ok" for g in prometheus("rules")["groups"] for r in g["rules"]
        ),
        60,
        "every rule evaluated without error",
    )
    assert firing_names() == set(), active_alerts()


# --- fault 1: no worker runs while jobs arrive ---------------------------------------------


def test_stopped_workers_raise_queue_alerts(host: Any) -> None:
    assert host.run("systemctl stop shield-worker@1.service shield-worker@2.service").rc == 0
    since, STATE["workers_wall"] = time.monotonic(), time.time()
    marker = uuid.uuid4().hex[:8]
    results = call_tools(
        mcp_token(),
        [
            (
                "ingest_doc",
                {
                    "text": f"Queue note {marker}-{n}: the ferry leaves at {n} o'clock.",
                    "title": f"Queue {marker} {n}",
                },
            )
            for n in range(JOBS_SUBMITTED)
        ],
    )
    assert all(not err for err, _unused in results), results
    STATE["jobs"] = [body["job_id"] for _unused, body in results]
    STATE["workers_expected"] = expected = [
        Expected(
            "ShieldQueueDepthHigh", {}, firing_deadline(VARS["monitoring_alert_queue_depth_for"])
        ),
        Expected(
            "ShieldTargetDown",
            {"job": "shield-workers"},
            firing_deadline(VARS["monitoring_alert_target_down_for"]),
        ),
        Expected(
            "ShieldQueueStalled",
            {},
            firing_deadline(
                VARS["monitoring_alert_queue_stalled_for"],
                VARS["monitoring_alert_queue_stalled_window"],
            ),
        ),
    ]
    alerts_fire(expected, since, "workers stopped")


def test_queue_alerts_reach_the_webhook(host: Any) -> None:
    alerts_delivered(
        host, STATE["workers_expected"], "firing", STATE["workers_wall"], "workers stopped"
    )


def test_grafana_mirrors_of_the_queue_alerts_fire(host: Any) -> None:
    grafana_mirrors(host, STATE["workers_expected"])


def test_restarted_workers_finish_the_jobs_and_resolve_the_alerts(host: Any) -> None:
    assert host.run("systemctl start shield-worker@1.service shield-worker@2.service").rc == 0
    repaired = time.time()
    for job_id in STATE["jobs"]:
        err, job = call_tool(
            mcp_token(), "wait_for_job", {"job_id": job_id, "timeout_seconds": 180}
        )
        assert not err, job
        assert job["status"] == "succeeded", job
    alerts_delivered(host, STATE["workers_expected"], "resolved", repaired, "workers restarted")
    resolved(STATE["workers_expected"])


# --- fault 2: the orchestrator is gone, the MCP server's breaker opens ----------------------


def test_stopped_orchestrator_opens_the_breaker_and_raises_alerts(host: Any) -> None:
    assert host.run("systemctl stop shield-orchestrator.service").rc == 0
    since, STATE["orchestrator_wall"] = time.monotonic(), time.time()
    threshold = int(VARS["fastmcp_server_breaker_failure_threshold"])
    calls = [("get_job_status", {"job_id": STATE["jobs"][0]})] * (threshold + 1)
    results = call_tools(mcp_token(), calls)
    assert all(err for err, _unused in results), results
    assert "retry_after=" in results[-1][1], results[-1]
    wait_for(
        lambda: query('circuit_breaker_state{job="shield-mcp"} == 2'),
        30,
        "the breaker open in Prometheus",
    )
    not_ready = Expected(
        "ShieldServiceNotReady",
        {"service": "orchestrator"},
        firing_deadline(VARS["monitoring_alert_not_ready_for"]),
    )
    STATE["orchestrator_expected"] = expected = [
        Expected(
            "ShieldCircuitBreakerOpen",
            {},
            firing_deadline(VARS["monitoring_alert_breaker_open_for"]),
        ),
        Expected(
            "ShieldTargetDown",
            {"job": "shield-orchestrator"},
            firing_deadline(VARS["monitoring_alert_target_down_for"]),
        ),
    ]
    STATE["orchestrator_inhibited"] = not_ready
    alerts_fire([*expected, not_ready], since, "orchestrator stopped")


def test_breaker_alerts_reach_the_webhook(host: Any) -> None:
    alerts_delivered(
        host,
        STATE["orchestrator_expected"],
        "firing",
        STATE["orchestrator_wall"],
        "orchestrator stopped",
    )


def test_a_down_target_holds_back_its_readiness_alert(host: Any) -> None:
    """The orchestrator's readiness alert fires in Prometheus, but Alertmanager inhibits it
    while the orchestrator's own target is down: one page for one fault."""
    not_ready = STATE["orchestrator_inhibited"]
    wait_for(lambda: suppressed_by_inhibition(not_ready), 30, f"{not_ready} inhibited")
    assert delivered(host, not_ready, "firing", STATE["orchestrator_wall"]) is None


def test_grafana_mirrors_of_the_breaker_alerts_fire(host: Any) -> None:
    grafana_mirrors(host, [*STATE["orchestrator_expected"], STATE["orchestrator_inhibited"]])


def test_restarted_orchestrator_closes_the_breaker_and_resolves_the_alerts(host: Any) -> None:
    assert host.run("systemctl start shield-orchestrator.service").rc == 0
    repaired = time.time()
    # After breaker_reset_seconds one probe call goes through; it succeeds and closes it.
    reset = float(VARS["fastmcp_server_breaker_reset_seconds"])
    wait_for(
        lambda: not call_tool(mcp_token(), "get_job_status", {"job_id": STATE["jobs"][0]})[0],
        reset + 60,
        "a tool call through the closed breaker",
        interval=2.0,
    )
    wait_for(
        lambda: query('circuit_breaker_state{job="shield-mcp"} == 0'),
        30,
        "the breaker closed in Prometheus",
    )
    alerts_delivered(
        host, STATE["orchestrator_expected"], "resolved", repaired, "orchestrator restarted"
    )
    resolved(STATE["orchestrator_expected"] + [STATE["orchestrator_inhibited"]])


# --- fault 3: Qdrant is gone, the orchestrator runs but is not ready -------------------------


def test_stopped_qdrant_makes_the_orchestrator_not_ready(host: Any) -> None:
    assert host.run("systemctl stop qdrant.service").rc == 0
    since, STATE["qdrant_wall"] = time.monotonic(), time.time()
    down = firing_deadline(VARS["monitoring_alert_target_down_for"])
    not_ready = firing_deadline(VARS["monitoring_alert_not_ready_for"])
    STATE["qdrant_expected"] = expected = [
        Expected("ShieldTargetDown", {"job": "qdrant"}, down),
        Expected("ShieldServiceNotReady", {"service": "orchestrator"}, not_ready),
    ]
    STATE["qdrant_inhibited"] = Expected("ShieldServiceNotReady", {"service": "qdrant"}, not_ready)
    alerts_fire([*expected, STATE["qdrant_inhibited"]], since, "Qdrant stopped")


def test_readiness_alerts_reach_the_webhook(host: Any) -> None:
    alerts_delivered(
        host, STATE["qdrant_expected"], "firing", STATE["qdrant_wall"], "Qdrant stopped"
    )
    inhibited = STATE["qdrant_inhibited"]
    wait_for(lambda: suppressed_by_inhibition(inhibited), 30, f"{inhibited} inhibited")
    assert delivered(host, inhibited, "firing", STATE["qdrant_wall"]) is None


def test_grafana_mirrors_of_the_readiness_alerts_fire(host: Any) -> None:
    grafana_mirrors(host, STATE["qdrant_expected"])


def test_restarted_qdrant_resolves_every_alert(host: Any) -> None:
    assert host.run("systemctl start qdrant.service").rc == 0
    repaired = time.time()
    alerts_delivered(host, STATE["qdrant_expected"], "resolved", repaired, "Qdrant restarted")
    resolved(STATE["qdrant_expected"] + [STATE["qdrant_inhibited"]])
