"""Alert and recording rules of shield.rag.monitoring, rendered with the role's defaults.

`promtool check rules` must accept them, and `promtool test rules` runs the unit tests in
tests/monitoring/rules/: each alert has a case where it fires (labels and annotations checked)
and a case where its condition holds but its `for` has not elapsed, or it has not started yet.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.conftest import RULE_TESTS_DIR, Render, run, tool
from tests.monitoring.rendering import SINGLE_HOST, Rendered

# shield-edge.yml: the role writes it only with an `edge` group, the tests always render it.
RULE_FILES = ("shield-alerts.yml", "shield-slo.yml", "shield-edge.yml")
TEST_FILES = sorted(RULE_TESTS_DIR.glob("*_test.yml"))


def _alerts(rendered: Rendered) -> dict[str, list[dict[str, Any]]]:
    """alert name -> its rules, over both rule files."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name in RULE_FILES:
        for group in rendered.yaml(name)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.setdefault(rule["alert"], []).append(rule)
    return found


def _alert_cases() -> dict[str, dict[str, int]]:
    """alert name -> number of firing and of silent cases in the promtool test files."""
    cases: dict[str, dict[str, int]] = {}
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "silent"
                counts = cases.setdefault(case["alertname"], {"firing": 0, "silent": 0})
                counts[kind] += 1
    return cases


def test_rule_files_pass_promtool_check(rendered_defaults: Rendered) -> None:
    promtool = tool("promtool")
    paths = [str(rendered_defaults.path(name)) for name in RULE_FILES]
    result = run([promtool, "check", "rules", *paths])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES), result.stdout


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(rendered_defaults: Rendered, test_file: Path) -> None:
    promtool = tool("promtool")
    # promtool reads rule_files relative to the test file: both go into the rendered directory.
    shutil.copy(test_file, rendered_defaults.path(test_file.name))
    result = run([promtool, "test", "rules", test_file.name], cwd=rendered_defaults.dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_has_a_firing_and_a_silent_case(rendered_defaults: Rendered) -> None:
    alerts = set(_alerts(rendered_defaults))
    cases = _alert_cases()
    assert len(alerts) >= 19, sorted(alerts)
    unknown = sorted(set(cases) - alerts)
    assert not unknown, f"test cases for alerts that do not exist: {unknown}"
    lacking = {
        name: cases.get(name, {"firing": 0, "silent": 0})
        for name in sorted(alerts)
        if not cases.get(name, {}).get("firing") or not cases.get(name, {}).get("silent")
    }
    assert not lacking, f"alerts without a firing and a silent case: {lacking}"


def test_every_alert_has_severity_and_runbook(rendered_defaults: Rendered) -> None:
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "runbook-alerts.md").read_text(
        encoding="utf-8"
    )
    for name, rules in _alerts(rendered_defaults).items():
        for rule in rules:
            assert rule["labels"]["severity"] in {"critical", "warning"}, name
            assert rule["annotations"]["runbook_url"].endswith(f"#{name.lower()}"), name
            assert {"summary", "description"} <= set(rule["annotations"]), name
        assert f"### {name}\n" in runbook, f"docs/runbook-alerts.md has no section for {name}"


def test_thresholds_and_durations_follow_the_variables(render: Render) -> None:
    rendered = render(
        SINGLE_HOST,
        {
            "monitoring_alert_breaker_open_for": "7m",
            "monitoring_alert_queue_depth": 250,
            "monitoring_alert_graph_queue_lag_seconds": 3600,
            "monitoring_alert_graph_queue_stalled_window": "45m",
            "monitoring_slo_orchestrator_availability_objective": 0.999,
            "monitoring_slo_mcp_latency_seconds": 30,
            "monitoring_alert_edge_server_down_for": "3m",
            "monitoring_alert_target_down_for": "4m",
            "monitoring_alert_budget_remaining_ratio": 0.2,
            "monitoring_alert_budget_for": "30m",
        },
    )
    alerts = _alerts(rendered)
    assert alerts["ShieldEdgeServerDown"][0]["for"] == "3m"
    assert alerts["ShieldEdgeBackendDown"][0]["for"] == "3m"
    assert alerts["ShieldEdgeDown"][0]["for"] == "4m"
    assert alerts["ShieldTargetDown"][0]["for"] == "4m"
    assert alerts["ShieldCircuitBreakerOpen"][0]["for"] == "7m"
    budget = alerts["ShieldClientBudgetNearlySpent"][0]
    assert budget["for"] == "30m" and budget["expr"].endswith(") < 0.2")
    assert budget["annotations"]["description"].startswith("Less than 0.2 of")
    assert "> 250" in alerts["ShieldQueueDepthHigh"][0]["expr"]
    graph_stalled = alerts["ShieldGraphQueueStalled"][0]
    assert "> 3600)" in graph_stalled["expr"] and "[45m]" in graph_stalled["expr"]
    assert "45m" in graph_stalled["annotations"]["summary"]
    slo = rendered.path("shield-slo.yml").read_text(encoding="utf-8")
    assert "vector(0.001)" in slo
    assert 'le="30.0"' in slo and 'le="10.0"' not in slo


def test_latency_overrides_render_valid_rules(render: Render) -> None:
    """Route templates hold regex metacharacters ({job_id}); the matchers must escape them."""
    promtool = tool("promtool")
    rendered = render(
        SINGLE_HOST,
        {
            "monitoring_alert_api_latency_p95_overrides": {"/jobs/{job_id}/events": 30},
            "monitoring_alert_tool_latency_p95_overrides": {},
            "monitoring_slo_mcp_latency_excluded_tools": [],
        },
    )
    result = run([promtool, "check", "rules", *(str(rendered.path(n)) for n in RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr
    expr = _alerts(rendered)["ShieldApiLatencyHigh"][0]["expr"]
    assert r"endpoint!~`/jobs/\{job_id\}/events`" in expr
    assert "endpoint=`/jobs/{job_id}/events`" in expr
    assert "tool!~" not in _alerts(rendered)["ShieldMcpToolLatencyHigh"][0]["expr"]
