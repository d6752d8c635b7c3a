"""Offline validation of the monitoring role's Grafana provisioning (no Grafana server here).

The files are rendered by the role's own tasks/grafana.yml with the Grafana install switched
off, then checked: JSON schemas (tests/grafana/schemas), the references Grafana resolves at
start-up, PromQL parsed by promtool, metric and label names against the service code, the
Prometheus alert each Grafana alert mirrors, and the runbook in docs/dashboards.md.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.grafana import promql
from tests.grafana import provisioning as prov

# The Prometheus alerts (templates/rules/shield-alerts.yml.j2) that no Grafana alert mirrors:
# host resources and Alertmanager's own delivery. Every other one has one Grafana alert.
NOT_MIRRORED = {"ShieldRedisMemoryHigh", "ShieldDiskSpaceLow", "ShieldAlertDeliveryFailing"}
DASHBOARDS = {
    "shield-mcp-tools",
    "shield-orchestrator-api",
    "shield-circuit-breakers",
    "shield-job-queue",
    "shield-slo",
}
DOCS = prov.ROOT / "docs" / "dashboards.md"


def _schema(name: str) -> dict[str, Any]:
    schema = json.loads((prov.SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _schema_errors(instance: Any, name: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(_schema(name))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> prov.Rendered:
    return prov.render(tmp_path_factory.mktemp("grafana"))


@pytest.fixture(scope="module")
def datasource_uids(rendered: prov.Rendered) -> set[str]:
    return {d["uid"] for d in rendered.datasources["datasources"]}


# --- rendering through the role --------------------------------------------------------------


def test_role_renders_every_file_with_the_install_switched_off(rendered: prov.Rendered) -> None:
    for relative in (prov.DATASOURCE_FILE, prov.PROVIDER_FILE, prov.ALERTS_FILE):
        assert (rendered.provisioning / relative).is_file(), relative
    assert {d["uid"] for d in rendered.dashboards.values()} == DASHBOARDS
    source = prov.ROLE / "files" / "grafana" / "dashboards"
    for path in rendered.dashboard_paths:
        assert path.read_bytes() == (source / path.name).read_bytes(), path.name


def test_second_run_changes_nothing(rendered: prov.Rendered) -> None:
    assert rendered.changed > 0
    assert prov.render(rendered.workdir).changed == 0


def test_thresholds_and_urls_come_from_the_variables(tmp_path: Path) -> None:
    out = prov.render(
        tmp_path,
        {
            "monitoring_alert_queue_depth": 7,
            "monitoring_alert_breaker_open_for": "3m",
            "monitoring_alert_dead_letter_window": "1h",
            "monitoring_alert_graph_queue_lag_seconds": 3600,
            "monitoring_alert_graph_queue_stalled_for": "20m",
            "monitoring_alert_api_latency_p95_overrides": {"/lightrag/query": 30},
            "monitoring_alert_budget_remaining_ratio": 0.25,
            "monitoring_alert_budget_for": "15m",
            "monitoring_grafana_prometheus_url": "http://prometheus.example:19090",
        },
    )
    queries = prov.alert_queries(out.alerts)
    by_uid = {q.uid: q for q in queries}
    assert by_uid["shield-queue-depth"].params == (7.0,)
    assert by_uid["shield-circuit-breaker-open"].for_ == "3m"
    assert "offset 1h" in by_uid["shield-jobs-dead-lettered"].expr
    assert "offset 1h" in by_uid["shield-graph-jobs-dead-lettered"].expr
    assert "> 3600)" in by_uid["shield-graph-queue-stalled"].expr
    assert by_uid["shield-graph-queue-stalled"].for_ == "20m"
    assert "endpoint!~`/lightrag/query`" in by_uid["shield-api-latency"].expr
    assert "endpoint=`/lightrag/query`}[5m]))) > 30" in by_uid["shield-api-latency"].expr
    budget = by_uid["shield-client-budget-nearly-spent"]
    assert (budget.evaluator, budget.params, budget.for_) == ("lt", (0.25,), "15m")
    budget_rule = next(r for r in prov.rules(out.alerts) if r["uid"] == budget.uid)
    assert "less than 25 % of its model budget" in budget_rule["annotations"]["summary"]
    assert out.datasources["datasources"][0]["url"] == "http://prometheus.example:19090"
    provider = out.providers["providers"][0]
    assert provider["options"]["path"] == str(out.dir / "dashboards")
    # Both sides follow the same variables: the mirror holds with these values too.
    assert promql.check_mirrors(queries, out.prometheus_rules) == []


# --- JSON schemas ----------------------------------------------------------------------------


def test_alert_rules_match_the_file_provisioning_schema(rendered: prov.Rendered) -> None:
    assert _schema_errors(rendered.alerts, "alert-rules.schema.json") == []


def test_datasource_file_matches_its_schema(rendered: prov.Rendered) -> None:
    assert _schema_errors(rendered.datasources, "datasources.schema.json") == []


def test_dashboard_provider_matches_its_schema(rendered: prov.Rendered) -> None:
    assert _schema_errors(rendered.providers, "dashboard-providers.schema.json") == []


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_dashboard_matches_the_dashboard_schema(rendered: prov.Rendered, uid: str) -> None:
    dashboard = rendered.dashboards[f"{uid}.json"]
    assert _schema_errors(dashboard, "dashboard.schema.json") == []


def test_schemas_reject_what_grafana_would_refuse_or_ignore(rendered: prov.Rendered) -> None:
    alerts = copy.deepcopy(rendered.alerts)
    rule = alerts["groups"][0]["rules"][0]
    rule["noDataState"] = "Nodata"
    rule["execErrstate"] = "Error"
    del rule["data"][0]["relativeTimeRange"]
    errors = _schema_errors(alerts, "alert-rules.schema.json")
    assert any("Nodata" in e for e in errors), errors
    assert any("execErrstate" in e for e in errors), errors
    assert any("relativeTimeRange" in e for e in errors), errors

    dashboard = copy.deepcopy(rendered.dashboards["shield-slo.json"])
    dashboard["panels"][0]["gridpos"] = dashboard["panels"][0].pop("gridPos")
    dashboard["schemaVersion"] = "42"
    errors = _schema_errors(dashboard, "dashboard.schema.json")
    assert any("gridpos" in e for e in errors), errors
    assert any("schemaVersion" in e for e in errors), errors


# --- references Grafana resolves at start-up ---------------------------------------------


def test_the_datasource_has_the_fixed_uid(datasource_uids: set[str]) -> None:
    assert datasource_uids == {prov.DATASOURCE_UID}


def test_rule_conditions_and_datasources_resolve(
    rendered: prov.Rendered, datasource_uids: set[str]
) -> None:
    assert prov.check_rule_references(rendered.alerts, datasource_uids) == []


def test_reference_check_finds_a_dangling_condition_and_datasource(
    rendered: prov.Rendered, datasource_uids: set[str]
) -> None:
    alerts = copy.deepcopy(rendered.alerts)
    rule = alerts["groups"][0]["rules"][0]
    rule["condition"] = "D"
    rule["data"][0]["datasourceUid"] = "prometheus-typo"
    rule["data"][2]["model"]["expression"] = "Z"
    problems = prov.check_rule_references(alerts, datasource_uids)
    assert len(problems) == 4, problems  # condition, datasource, model uid, expression input


def test_rule_uids_and_titles_are_unique(rendered: prov.Rendered) -> None:
    rules = list(prov.rules(rendered.alerts))
    assert prov.duplicates(r["uid"] for r in rules) == []
    # Grafana refuses two rules with one title in one folder.
    assert prov.duplicates(r["title"] for r in rules) == []


def test_dashboard_uids_are_unique(rendered: prov.Rendered) -> None:
    uids = [d["uid"] for d in rendered.dashboards.values()]
    assert prov.duplicates(uids) == []
    assert len(uids) == len(DASHBOARDS)


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_panel_datasources_are_provisioned(
    rendered: prov.Rendered, datasource_uids: set[str], uid: str
) -> None:
    dashboard = rendered.dashboards[f"{uid}.json"]
    assert prov.check_dashboard_datasources(dashboard, datasource_uids) == []
    broken = copy.deepcopy(dashboard)
    broken["panels"][0]["targets"][0]["datasource"]["uid"] = "elsewhere"
    assert len(prov.check_dashboard_datasources(broken, datasource_uids)) == 1


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_panels_fit_the_grid_without_overlapping(rendered: prov.Rendered, uid: str) -> None:
    dashboard = rendered.dashboards[f"{uid}.json"]
    assert prov.check_layout(dashboard) == []
    broken = copy.deepcopy(dashboard)
    broken["panels"][1]["gridPos"] = dict(broken["panels"][0]["gridPos"])
    assert prov.check_layout(broken)


def test_alert_strings_hold_nothing_grafana_would_expand(rendered: prov.Rendered) -> None:
    assert prov.check_no_env_expansion(rendered.alerts) == []
    broken = copy.deepcopy(rendered.alerts)
    broken["groups"][0]["rules"][0]["annotations"]["summary"] = "{{ $labels.job }} down"
    assert len(prov.check_no_env_expansion(broken)) == 1


def test_alert_annotations_keep_grafana_templates(rendered: prov.Rendered) -> None:
    """The Jinja template must hand Grafana its own {{ .Labels.x }} templates untouched."""
    summaries = [r["annotations"]["summary"] for r in prov.rules(rendered.alerts)]
    assert any("{{ .Labels.target }}" in s for s in summaries), summaries


def test_alert_dashboard_links_name_existing_panels(rendered: prov.Rendered) -> None:
    panel_ids = {d["uid"]: {p["id"] for p in prov.panels(d)} for d in rendered.dashboards.values()}
    for rule in prov.rules(rendered.alerts):
        link = re.fullmatch(r"/d/([\w-]+)\?viewPanel=(\d+)", rule["annotations"]["dashboard"])
        assert link, rule["annotations"]["dashboard"]
        assert int(link.group(2)) in panel_ids.get(link.group(1), set()), rule["uid"]


# --- PromQL ----------------------------------------------------------------------------------


def _all_exprs(rendered: prov.Rendered) -> list[tuple[str, str]]:
    exprs = list(prov.alert_exprs(rendered.alerts))
    for dashboard in rendered.dashboards.values():
        exprs.extend(prov.dashboard_exprs(dashboard))
    return exprs


def test_every_promql_expression_parses(rendered: prov.Rendered, tmp_path: Path) -> None:
    exprs = _all_exprs(rendered)
    assert len(exprs) > 50
    assert promql.check_promql(exprs, tmp_path) == []


def test_promql_check_catches_a_syntax_error(tmp_path: Path) -> None:
    problems = promql.check_promql(
        [("good", "sum(rate(up[5m]))"), ("bad", "sum(rate(up[5m])) by by")], tmp_path
    )
    assert problems and "bad" in problems[0], problems


def test_metrics_and_labels_exist_in_the_service_code(rendered: prov.Rendered) -> None:
    metrics = promql.code_metrics()
    assert "circuit_breaker_state" in metrics and "worker_jobs_total" in metrics
    metrics |= promql.recording_metrics(rendered.prometheus_rules)
    assert "slo:error_budget:ratio" in metrics
    assert promql.check_metrics(_all_exprs(rendered), metrics) == []


def test_expressions_use_the_roles_scrape_job_names(rendered: prov.Rendered) -> None:
    """Job names are those of _monitoring_jobs (vars/main.yml), which the scrape configs use."""
    role_vars = yaml.safe_load((prov.ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))
    jobs = set(role_vars["_monitoring_jobs"].values())
    used = set()
    for _unused, expr in _all_exprs(rendered):
        for value in re.findall(r'\bjob\s*(?:=~|!~|!=|=)\s*"([^"]*)"', expr):
            used.update(value.split("|"))
    assert used, "no expression selects a job"
    assert used <= jobs, f"job names the scrape configs do not have: {used - jobs}"


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ('sum(rate(tool_call_total{job="shield-mcp"}[5m]))', "tool_call_total is not defined"),
        ("sum by (tool) (rate(api_requests_total[5m]))", "groups by tool"),
        ('worker_jobs_total{outcome="deadlettered"}', "'deadlettered' is not a value"),
        ('api_duration_seconds_bucket{le="1"}', "no bucket le=1"),
        ('active_jobs{kind="crawl"}', "has no label kind"),
    ],
)
def test_metric_check_catches_wrong_names(expr: str, complaint: str) -> None:
    problems = promql.check_metrics([("x", expr)], promql.code_metrics())
    assert any(complaint in p for p in problems), problems


# --- alerts: thresholds and the mirrored Prometheus alerts ------------------------------------


def test_breaker_alert_fires_unless_the_breaker_is_closed(rendered: prov.Rendered) -> None:
    """circuit_breaker_state: 0 closed, 1 half-open, 2 open (shield_rag.breaker); a breaker
    whose probes keep failing goes open -> half-open -> open, never back to closed."""
    from shield_rag.breaker import BreakerState

    queries = {q.uid: q for q in prov.alert_queries(rendered.alerts)}
    breaker = queries["shield-circuit-breaker-open"]
    assert "circuit_breaker_state" in breaker.expr
    assert [breaker.fires(float(s)) for s in BreakerState] == [
        s is not BreakerState.CLOSED for s in BreakerState
    ]


@pytest.mark.parametrize(
    ("uid", "counter"),
    [
        ("shield-jobs-dead-lettered", "worker_jobs_total"),
        ("shield-graph-jobs-dead-lettered", "worker_graph_jobs_total"),
    ],
)
def test_dead_letter_alerts_read_the_dead_outcome(
    rendered: prov.Rendered, uid: str, counter: str
) -> None:
    dead = {q.uid: q for q in prov.alert_queries(rendered.alerts)}[uid]
    assert f'{counter}{{job="shield-workers",outcome="dead"}}' in dead.expr
    assert dead.fires(1.0) and not dead.fires(0.0)


def test_budget_alert_fires_per_client_below_the_threshold(rendered: prov.Rendered) -> None:
    """shield_budget_remaining_ratio: 1 untouched, 0 spent, one series per orchestrator replica
    that served the client; the alert takes the lowest per client (one alert per client)."""
    budget = {q.uid: q for q in prov.alert_queries(rendered.alerts)}[
        "shield-client-budget-nearly-spent"
    ]
    assert budget.expr == (
        'min by (client) (shield_budget_remaining_ratio{job="shield-orchestrator"})'
    )
    values = (0.0, 0.05, 0.1, 0.5, 1.0)
    assert [budget.fires(v) for v in values] == [True, True, False, False, False]


def test_every_prometheus_alert_but_the_host_ones_has_one_grafana_alert(
    rendered: prov.Rendered,
) -> None:
    mirrored = [q.prometheus_alert for q in prov.alert_queries(rendered.alerts)]
    alerts = {r["alert"] for r in rendered.rule_file(prov.PROMETHEUS_ALERTS_FILE) if "alert" in r}
    assert alerts >= NOT_MIRRORED
    assert prov.duplicates(mirrored) == []
    assert set(mirrored) == alerts - NOT_MIRRORED


def test_grafana_alerts_give_back_the_prometheus_expressions(rendered: prov.Rendered) -> None:
    """Query A plus threshold C of each Grafana alert, as rendered, is the expression of the
    Prometheus alert it names (both come from templates/alert_exprs.j2: this checks how each
    template uses it, and the comparisons Grafana's thresholds stand for), with its `for`."""
    queries = prov.alert_queries(rendered.alerts)
    assert promql.check_mirrors(queries, rendered.prometheus_rules) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"params": (101.0,)}, "is not the expr of ShieldQueueDepthHigh"),
        ({"evaluator": "lt"}, "is not the expr of ShieldQueueDepthHigh"),
        ({"expr": "max(worker_queue_size)"}, "is not the expr of ShieldQueueDepthHigh"),
        ({"for_": "1m"}, "ShieldQueueDepthHigh has for 10m"),
        ({"prometheus_alert": "ShieldQueueDeep"}, "0 Prometheus alerts are named"),
    ],
)
def test_mirror_check_catches_a_wrong_grafana_alert(
    rendered: prov.Rendered, change: dict[str, Any], complaint: str
) -> None:
    queries = [
        dataclasses.replace(q, **change) if q.uid == "shield-queue-depth" else q
        for q in prov.alert_queries(rendered.alerts)
    ]
    problems = promql.check_mirrors(queries, rendered.prometheus_rules)
    assert len(problems) == 1 and complaint in problems[0], problems


# --- runbook ---------------------------------------------------------------------------------


def test_docs_describe_every_panel(rendered: prov.Rendered) -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [
        f"{d['uid']}: {p['title']}"
        for d in rendered.dashboards.values()
        for p in prov.panels(d)
        if f"**{p['title']}**" not in text
    ]
    assert missing == []


def test_docs_have_a_runbook_entry_for_every_alert(rendered: prov.Rendered) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for rule in prov.rules(rendered.alerts):
        title = re.sub(r" \(.*\)$", "", rule["title"])  # per-override rules share an entry
        assert f"\n### {title}\n" in text, title
        anchor = re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
        assert rule["annotations"]["runbook"] == f"docs/dashboards.md#{anchor}"
