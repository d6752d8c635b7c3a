"""PromQL of the Grafana provisioning: parsed by promtool, its metric and label names compared
with the service code and the role's recording rules, and each Grafana alert compared with the
Prometheus alert it mirrors (both take their PromQL from templates/alert_exprs.j2: the
comparison checks how the two templates use it).

The ``check_*`` functions return a list of problems (empty when all is well).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.grafana.provisioning import ROOT, AlertQuery

SRC = ROOT / "src" / "shield_rag"

# Grafana's built-in query macros and the dashboards' template variables, replaced by plain
# PromQL before promtool parses an expression (Grafana does the same before sending it).
GRAFANA_MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "6h",
    "$instance": ".+",
}

# Metrics that the stack's own code does not define, with the labels they carry besides the
# target labels: `up` (every scrape), the blackbox exporter's `probe_success`, the Redis
# exporter's `redis_up`.
EXTERNAL_METRICS: dict[str, set[str]] = {"up": set(), "probe_success": set(), "redis_up": set()}
# Labels of every target: job and instance from Prometheus, host/service/worker from the
# role's scrape configs (templates/targets.yml.j2).
TARGET_LABELS = {"job", "instance", "host", "service", "worker"}


# --- PromQL ----------------------------------------------------------------------------------


def substitute_macros(expr: str) -> str:
    for macro in sorted(GRAFANA_MACROS, key=len, reverse=True):
        expr = expr.replace(macro, GRAFANA_MACROS[macro])
    return expr


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        raise AssertionError(
            "promtool is not installed: it comes with the Debian package `prometheus` "
            "(apt-get install prometheus); the PromQL of the dashboards and alerts cannot be "
            "parsed without it"
        )
    return found


def check_promql(exprs: list[tuple[str, str]], workdir: Path) -> list[str]:
    """Parse every expression with promtool: each one becomes a recording rule of a
    temporary rules file, which `promtool check rules` parses as Prometheus would."""
    problems = []
    for where, expr in exprs:
        if "$" in substitute_macros(expr):
            problems.append(f"{where}: unknown Grafana variable in {expr!r}")
    recording = [
        {"record": f"grafana_check:expr_{index}", "expr": substitute_macros(expr)}
        for index, (_unused, expr) in enumerate(exprs)
    ]
    path = workdir / "grafana-promql.rules.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "grafana-promql", "rules": recording}]}),
        encoding="utf-8",
    )
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        for index, (where, expr) in enumerate(exprs):
            if f'grafana_check:expr_{index}"' in output or f"expr_{index}:" in output:
                problems.append(f"{where}: {expr!r}")
        problems.append(f"promtool check rules failed:\n{output}")
    return problems


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: str
    labels: frozenset[str]
    buckets: tuple[str, ...] = ()
    # Recording rules: the values their `labels:` give each label.
    label_values: tuple[tuple[str, frozenset[str]], ...] = ()


def _go_float(value: float) -> str:
    """How prometheus_client writes a bucket bound in the `le` label."""
    from prometheus_client.utils import floatToGoString

    return floatToGoString(value)


def code_metrics(src: Path = SRC) -> dict[str, MetricDef]:
    """Series names the service code exposes, from its Counter/Gauge/Histogram definitions."""
    series: dict[str, MetricDef] = {}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            kind = node.func.id
            if kind not in {"Counter", "Gauge", "Histogram", "Summary"} or not node.args:
                continue
            name = ast.literal_eval(node.args[0])
            labels: list[str] = []
            if len(node.args) > 2:
                labels = list(ast.literal_eval(node.args[2]))
            buckets: tuple[str, ...] = ()
            for keyword in node.keywords:
                if keyword.arg == "labelnames":
                    labels = list(ast.literal_eval(keyword.value))
                if keyword.arg == "buckets":
                    bounds = [float(b) for b in ast.literal_eval(keyword.value)]
                    buckets = tuple(_go_float(b) for b in [*bounds, float("inf")])
            base = frozenset(labels)
            if kind == "Counter":
                stem = name.removesuffix("_total")
                series[f"{stem}_total"] = MetricDef(f"{stem}_total", kind, base)
            elif kind == "Gauge":
                series[name] = MetricDef(name, kind, base)
            else:
                series[f"{name}_bucket"] = MetricDef(f"{name}_bucket", kind, base | {"le"}, buckets)
                series[f"{name}_sum"] = MetricDef(f"{name}_sum", kind, base)
                series[f"{name}_count"] = MetricDef(f"{name}_count", kind, base)
    return series


def recording_metrics(prometheus_rules: list[dict[str, Any]]) -> dict[str, MetricDef]:
    """Series the role's recording rules create, with the labels the rules set."""
    values: dict[str, dict[str, set[str]]] = {}
    for rule in prometheus_rules:
        if "record" in rule:
            mine = values.setdefault(rule["record"], {})
            for label, value in (rule.get("labels") or {}).items():
                mine.setdefault(label, set()).add(str(value))
    return {
        name: MetricDef(
            name,
            "recording",
            frozenset(labels),
            label_values=tuple((k, frozenset(v)) for k, v in sorted(labels.items())),
        )
        for name, labels in values.items()
    }


_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}  # fmt: skip
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_MATCHER = re.compile(
    r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"  # label and operator
    r"(?:\"((?:[^\"\\]|\\.)*)\"|`([^`]*)`)"  # "value" or `raw value`
)


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]


def parse_selectors(expr: str) -> tuple[list[Selector], set[str]]:
    """Vector selectors (metric name and label matchers) and grouping labels of a PromQL
    expression. Enough of PromQL for these files: no nested braces, no string functions."""
    expr = substitute_macros(expr)
    grouping = {
        label.strip()
        for match in _GROUPING.finditer(expr)
        for label in match.group(2).split(",")
        if label.strip()
    }
    masked = _GROUPING.sub(lambda m: " " * len(m.group(0)), expr)
    masked = re.sub(r"\[[^\]]*\]", lambda m: " " * len(m.group(0)), masked)
    braces = {m.start(): m.group(1) for m in re.finditer(r"\{([^}]*)\}", masked)}
    masked = re.sub(r"\{[^}]*\}", lambda m: "{" + " " * (len(m.group(0)) - 2) + "}", masked)
    selectors = []
    for match in _IDENT.finditer(masked):
        name = match.group(1)
        rest = masked[match.end() :].lstrip()
        if name in _KEYWORDS or rest.startswith("("):
            continue
        brace_at = len(masked) - len(rest)
        body = braces.get(brace_at, "") if rest.startswith("{") else ""
        matchers = [(lbl, op, dq or bt) for lbl, op, dq, bt in _MATCHER.findall(body)]
        selectors.append(Selector(name, matchers))
    return selectors, grouping


def _code_strings(src: Path = SRC) -> set[str]:
    """String constants of the code, the names of its functions (MCP tool names are those of
    the tool functions) and the lower-cased member names of its enums (the breaker states of
    circuit_breaker_transitions_total come from `BreakerState.OPEN.name.lower()`)."""
    found: set[str] = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.add(node.name)
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id.endswith("Enum") for base in node.bases
            ):
                for item in node.body:
                    if isinstance(item, ast.Assign):
                        found.update(t.id.lower() for t in item.targets if isinstance(t, ast.Name))
    return found


def check_metrics(
    exprs: list[tuple[str, str]],
    metrics: dict[str, MetricDef],
    strings: set[str] | None = None,
) -> list[str]:
    """Every metric an expression reads is exposed by the service code (or is `up` /
    `probe_success`); every label it matches or groups by exists on those metrics; `le`
    values are real bucket bounds; plain label values matched on the stack's own metrics
    (outcome="dead", status=~"error|unavailable", tool names ...) appear in the code, and
    those matched on recording rules (slo="mcp-latency") are values the rules set."""
    strings = _code_strings() if strings is None else strings
    problems = []
    for where, expr in exprs:
        selectors, grouping = parse_selectors(expr)
        if not selectors:
            problems.append(f"{where}: no metric found in {expr!r}")
        known_labels = set(TARGET_LABELS)
        for selector in selectors:
            if selector.metric in EXTERNAL_METRICS:
                labels = EXTERNAL_METRICS[selector.metric] | TARGET_LABELS
            elif selector.metric in metrics:
                labels = set(metrics[selector.metric].labels) | TARGET_LABELS
            else:
                problems.append(f"{where}: metric {selector.metric} is not defined in the code")
                continue
            known_labels |= labels
            for label, op, value in selector.matchers:
                if label not in labels:
                    problems.append(f"{where}: {selector.metric} has no label {label}")
                    continue
                if label == "le":
                    if value not in metrics[selector.metric].buckets:
                        problems.append(f"{where}: {selector.metric} has no bucket le={value}")
                    continue
                if label in TARGET_LABELS or selector.metric in EXTERNAL_METRICS:
                    continue
                known_values = dict(metrics[selector.metric].label_values).get(label, strings)
                alternatives = value.split("|") if op in ("=~", "!~") else [value]
                for literal in alternatives:
                    if re.fullmatch(r"[\w/{}-]+", literal) and literal not in known_values:
                        problems.append(
                            f"{where}: {selector.metric}{{{label}{op}{value!r}}}: {literal!r} "
                            "is not a value the code uses"
                        )
        for label in sorted(grouping - known_labels):
            problems.append(f"{where}: groups by {label}, which its metrics do not carry")
    return problems


# --- the mirrored Prometheus alerts ----------------------------------------------------------


def squash(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def prometheus_forms(query: AlertQuery) -> set[str]:
    """The Prometheus expressions (whitespace removed) that alert exactly when this Grafana
    alert's condition holds: A followed by the comparison of C; for a top-level `or` of
    selectors, the comparison after each operand; for C "above 0", A itself when A only
    returns the series that fire. Equivalent integer comparisons are accepted for the
    integer-valued gauges (up, probe_success, readiness, breaker state): `< 1` as `== 0`,
    `> n` as `>= n+1`."""
    value = query.params[0]
    if query.evaluator == "gt":
        ops = [f">{value:g}"] + ([f">={int(value) + 1}"] if value == int(value) else [])
    elif query.evaluator == "lt":
        ops = [f"<{value:g}"] + (["==0"] if value == 1 else [])
    else:
        ops = []
    operands = [squash(part) for part in re.split(r"\s+or\s+", query.expr)]
    forms = set()
    for op in ops:
        forms.add(squash(query.expr) + op)
        forms.add("or".join(operand + op for operand in operands))
    if query.evaluator == "gt" and value == 0:
        forms.add(squash(query.expr))
    return forms


def check_mirrors(queries: list[AlertQuery], prometheus_rules: list[dict[str, Any]]) -> list[str]:
    """Every Grafana alert names, in its `prometheus_alert` annotation, one alert of the role's
    Prometheus rules, and its query A with its threshold C gives back that alert's expression
    (prometheus_forms), with the same `for`."""
    alerts: dict[str, list[dict[str, Any]]] = {}
    for rule in prometheus_rules:
        if "alert" in rule:
            alerts.setdefault(rule["alert"], []).append(rule)
    problems = []
    for query in queries:
        name = query.prometheus_alert
        found = alerts.get(name, [])
        if len(found) != 1:
            problems.append(f"{query.uid}: {len(found)} Prometheus alerts are named {name!r}")
            continue
        alert = found[0]
        if squash(alert["expr"]) not in prometheus_forms(query):
            problems.append(
                f"{query.uid}: A {query.expr!r} with C {query.evaluator} {query.params} is not "
                f"the expr of {name}, {alert['expr']!r}"
            )
        if str(alert.get("for", "0s")) != str(query.for_):
            problems.append(f"{query.uid}: for {query.for_}, {name} has for {alert.get('for')}")
    return problems
