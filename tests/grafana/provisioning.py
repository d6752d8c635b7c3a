"""Render the monitoring role's Grafana provisioning offline and check its references.

No Grafana server can run here, so the files are rendered by the role's own task file
(``roles/monitoring/tasks/grafana.yml``, with ``monitoring_grafana_install: false``) through
the renderer of tests/monitoring, together with the role's Prometheus rules, and checked
without Grafana: JSON schemas written from Grafana's provisioning types and dashboard kind
(``schemas/``) and the cross-checks Grafana does only at start-up, or never (this module);
PromQL, metric names and the mirrored Prometheus alerts (``promql.py``).

The ``check_*`` functions return a list of problems (empty when all is well) so that the tests
can also feed them broken input and see them complain. ``alert_queries`` gives each alert's
PromQL and threshold, for checks that evaluate them against a live Prometheus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring import rendering

ROOT = rendering.ROOT
ROLE = rendering.ROLE_DIR
SCHEMAS = Path(__file__).resolve().parent / "schemas"

DATASOURCE_UID = "shield-prometheus"
EXPR_UID = "__expr__"
DATASOURCE_FILE = "datasources/shield-rag.yml"
PROVIDER_FILE = "dashboards/shield-rag.yml"
ALERTS_FILE = "alerting/shield-rag-alerts.yml"
# The role's Prometheus rule files (templates/rules/<name>.j2), rendered next to Grafana's.
PROMETHEUS_RULE_FILES = ("shield-alerts.yml", "shield-slo.yml")
PROMETHEUS_ALERTS_FILE = PROMETHEUS_RULE_FILES[0]


@dataclass
class Rendered(rendering.Rendered):
    """The role's files rendered into out/: the Prometheus ones, Grafana's provisioning/ and
    the dashboards/ directory."""

    @property
    def provisioning(self) -> Path:
        return self.dir / "provisioning"

    def load(self, relative: str) -> Any:
        return yaml.safe_load((self.provisioning / relative).read_text(encoding="utf-8"))

    @property
    def datasources(self) -> dict[str, Any]:
        return self.load(DATASOURCE_FILE)

    @property
    def providers(self) -> dict[str, Any]:
        return self.load(PROVIDER_FILE)

    @property
    def alerts(self) -> dict[str, Any]:
        return self.load(ALERTS_FILE)

    def rule_file(self, name: str) -> list[dict[str, Any]]:
        """Every rule (alerting and recording) of one of the role's Prometheus rule files."""
        groups = (self.yaml(name) or {}).get("groups", [])
        return [rule for group in groups for rule in group.get("rules", [])]

    @property
    def prometheus_rules(self) -> list[dict[str, Any]]:
        return [rule for name in PROMETHEUS_RULE_FILES for rule in self.rule_file(name)]

    @property
    def dashboard_paths(self) -> list[Path]:
        return sorted((self.dir / "dashboards").glob("*.json"))

    @property
    def dashboards(self) -> dict[str, dict[str, Any]]:
        return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in self.dashboard_paths}


def render(workdir: Path, extra_vars: dict[str, Any] | None = None) -> Rendered:
    """Render the role's files, the Grafana provisioning by tasks/grafana.yml with the install
    switched off, into workdir/out (again: a second run over the same workdir)."""
    variables = {
        "monitoring_grafana_install": False,
        "monitoring_grafana_provisioning_dir": "{{ shield_render_dir }}/provisioning",
        "monitoring_grafana_dashboards_dir": "{{ shield_render_dir }}/dashboards",
        **(extra_vars or {}),
    }
    done = rendering.render_role(workdir, extra_vars=variables, grafana=True)
    return Rendered(done.workdir, done.output)


# --- walking the files -----------------------------------------------------------------------


def rules(alerts: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in alerts.get("groups", []):
        yield from group.get("rules", [])


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels of a row


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"{dashboard['uid']} panel {panel['id']} {target['refId']}", target["expr"]


def alert_exprs(alerts: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for rule in rules(alerts):
        for query in rule["data"]:
            if query["datasourceUid"] != EXPR_UID:
                yield f"rule {rule['uid']} {query['refId']}", query["model"]["expr"]


@dataclass(frozen=True)
class AlertQuery:
    """One Grafana alert reduced to what Prometheus can evaluate: the PromQL of the query the
    condition depends on, and the threshold the condition applies to each series' value."""

    uid: str
    title: str
    expr: str
    evaluator: str
    params: tuple[float, ...]
    for_: str
    prometheus_alert: str

    def fires(self, value: float) -> bool:
        low, high = (*self.params, 0.0)[:2]
        return {
            "gt": lambda: value > low,
            "lt": lambda: value < low,
            "within_range": lambda: low < value < high,
            "outside_range": lambda: value < low or value > high,
        }[self.evaluator]()


def alert_queries(alerts: dict[str, Any]) -> list[AlertQuery]:
    """Follow each rule's condition through its expressions (threshold → reduce → query)."""
    found = []
    for rule in rules(alerts):
        by_ref = {q["refId"]: q for q in rule["data"]}
        condition = by_ref[rule["condition"]]["model"]
        assert condition.get("type") == "threshold", f"{rule['uid']}: condition is not a threshold"
        evaluator = condition["conditions"][0]["evaluator"]
        ref = condition["expression"]
        while by_ref[ref]["datasourceUid"] == EXPR_UID:
            ref = by_ref[ref]["model"]["expression"]
        found.append(
            AlertQuery(
                uid=rule["uid"],
                title=rule["title"],
                expr=by_ref[ref]["model"]["expr"],
                evaluator=evaluator["type"],
                params=tuple(float(p) for p in evaluator["params"]),
                for_=rule["for"],
                prometheus_alert=rule.get("annotations", {}).get("prometheus_alert", ""),
            )
        )
    return found


# --- cross-checks ----------------------------------------------------------------------------

_EXPR_INPUT = re.compile(r"\$\{?([A-Za-z][A-Za-z0-9_]*)\}?")


def _expression_inputs(model: dict[str, Any]) -> set[str]:
    """refIds an expression reads: `expression` of reduce/threshold/resample, $A in math."""
    text = str(model.get("expression", ""))
    if model.get("type") == "math":
        return set(_EXPR_INPUT.findall(text))
    return {text} if text else set()


def check_rule_references(alerts: dict[str, Any], datasource_uids: set[str]) -> list[str]:
    """condition names an existing refId; every expression reads existing refIds; every
    datasourceUid is a provisioned datasource or __expr__; model refId and uid agree."""
    problems = []
    for rule in rules(alerts):
        refs = [q.get("refId") for q in rule.get("data", [])]
        if len(refs) != len(set(refs)):
            problems.append(f"{rule.get('uid')}: refIds repeat: {refs}")
        if rule.get("condition") not in refs:
            problems.append(f"{rule.get('uid')}: condition {rule.get('condition')!r} not in {refs}")
        for query in rule.get("data", []):
            uid = query.get("datasourceUid")
            model = query.get("model", {})
            if uid != EXPR_UID and uid not in datasource_uids:
                problems.append(f"{rule.get('uid')} {query.get('refId')}: unknown datasource {uid}")
            if model.get("refId") != query.get("refId"):
                problems.append(f"{rule.get('uid')} {query.get('refId')}: model refId differs")
            if model.get("datasource", {}).get("uid") not in (None, uid):
                problems.append(f"{rule.get('uid')} {query.get('refId')}: model datasource differs")
            if uid == EXPR_UID:
                missing = _expression_inputs(model) - set(refs)
                if missing:
                    problems.append(f"{rule.get('uid')} {query.get('refId')}: reads {missing}")
    return problems


def duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated = []
    for value in values:
        if value in seen:
            repeated.append(value)
        seen.add(value)
    return repeated


def check_dashboard_datasources(dashboard: dict[str, Any], datasource_uids: set[str]) -> list[str]:
    """Every Prometheus datasource reference (panel, target, variable) is provisioned."""
    problems = []
    refs: list[tuple[str, dict[str, Any]]] = []
    for panel in panels(dashboard):
        refs.append((f"panel {panel.get('id')}", panel.get("datasource") or {}))
        for target in panel.get("targets", []):
            where = f"panel {panel.get('id')} {target.get('refId')}"
            refs.append((where, target.get("datasource")))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            refs.append((f"variable {variable.get('name')}", variable.get("datasource")))
    for where, ref in refs:
        if not isinstance(ref, dict) or ref.get("uid") not in datasource_uids:
            problems.append(f"{dashboard.get('uid')} {where}: datasource {ref!r} not provisioned")
    return problems


def check_layout(dashboard: dict[str, Any]) -> list[str]:
    """Panel ids unique; panels inside the 24-column grid and not overlapping."""
    ids = [str(p["id"]) for p in panels(dashboard)]
    problems = [f"panel id {i} repeats" for i in duplicates(ids)]
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard.get("panels", []):
        pos = panel["gridPos"]
        if pos["x"] + pos["w"] > 24:
            problems.append(f"panel {panel['id']} ends past column 24")
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                if (x, y) in cells:
                    problems.append(f"panel {panel['id']} overlaps panel {cells[(x, y)]}")
                    break
                cells[(x, y)] = panel["id"]
            else:
                continue
            break
    return [f"{dashboard.get('uid')}: {p}" for p in problems]


def check_no_env_expansion(alerts: dict[str, Any]) -> list[str]:
    """Grafana expands $NAME from its environment in every string of a provisioning file
    except the query models: a "$" elsewhere (e.g. a $labels template) would be eaten."""

    def walk(value: Any, where: str) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key != "model":
                    yield from walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{where}[{index}]")
        elif isinstance(value, str) and "$" in value:
            yield f"{where}: {value!r}"

    return list(walk(alerts, "alerts"))
