"""What each fault phase of test_grafana_alerts.py checks, and the figures it measures.

FIGURES holds the measured timings; conftest.py prints them at the end of the run.
"""

from __future__ import annotations

from typing import Any

import yaml
from observe import (
    EVALUATION,
    GRAFANA_ALERTS_FILE,
    MARGIN,
    SCRAPE,
    Expected,
    active_alerts,
    delivered,
    query,
    wait_for,
    watch_alerts,
)
from tests.grafana.provisioning import AlertQuery, alert_queries

FIGURES: list[str] = []


def _firing(q: AlertQuery) -> list[dict[str, str]]:
    """The series for which a Grafana rule's query returns its firing condition now."""
    return [labels for labels, value in query(q.expr) if q.fires(value)]


def _fires_for(series: list[dict[str, str]], e: Expected) -> bool:
    return any(all(labels.get(k) == v for k, v in e.labels.items()) for labels in series)


def _active_names() -> set[str]:
    return {a["labels"]["alertname"] for a in active_alerts()}


def grafana_mirrors(host: Any, expected: list[Expected]) -> None:
    """Each Grafana rule mirroring an expected alert fires on this Prometheus, for a series
    with the expected labels (read again until one scrape and one evaluation have passed,
    when the first read misses it); each mirroring an alert that is not active does not fire, or
    fires only for a blip: a sample Prometheus had not evaluated yet when it was read is
    active (pending) one scrape and one evaluation later if it lasts, and gone if it does not
    (a blip shorter than the rule's `for` raises neither the alert nor its Grafana mirror):
    each is polled until one or the other holds."""
    queries = alert_queries(yaml.safe_load(host.file(GRAFANA_ALERTS_FILE).content_string))
    before = _active_names()
    results = {q.uid: _firing(q) for q in queries}
    after = _active_names()
    for e in expected:
        mirrors = [q for q in queries if q.prometheus_alert == e.alertname]
        assert mirrors, f"no Grafana rule mirrors {e.alertname}"
        for q in mirrors:
            if not _fires_for(results[q.uid], e):
                # Read once more over a scrape and an evaluation: the instant read may have
                # met a sample the fault had not reached yet (a late scrape of a target).
                wait_for(
                    lambda q=q, e=e: _fires_for(_firing(q), e),
                    SCRAPE + EVALUATION + MARGIN,
                    f"Grafana rule {q.uid} to fire for {e} (it fired for {results[q.uid]};"
                    f" active alerts: {sorted(_active_names())})",
                )
    quiet = [q for q in queries if q.prometheus_alert not in before | after]
    assert quiet, "every mirrored alert is active: nothing to compare"
    blips = [q for q in quiet if results[q.uid]]
    for q in blips:
        wait_for(
            lambda q=q: not _firing(q) or q.prometheus_alert in _active_names(),
            SCRAPE + EVALUATION + MARGIN,
            f"Grafana rule {q.uid} (firing for {results[q.uid]}) to stop firing"
            f" or {q.prometheus_alert} to be active",
        )
    FIGURES.append(
        f"Grafana mirrors: {len(expected)} firing as expected, {len(quiet)} quiet as expected"
        + (f" ({len(blips)} after a blip: {[q.uid for q in blips]})" if blips else "")
    )


def alerts_fire(expected: list[Expected], since: float, what: str) -> None:
    seen = watch_alerts(expected, since)
    for e, s in seen.items():
        assert s.firing is not None, (
            f"{e} did not fire within {e.deadline:.0f} s of {what} (pending at {s.pending})"
        )
        assert s.pending is not None, f"{e}: never seen pending before firing ({s})"
        assert s.pending < s.firing, f"{e}: firing without pending first ({s})"
        FIGURES.append(
            f"{what}: {e} pending after {s.pending:.0f} s, firing after {s.firing:.0f} s"
            f" (bound {e.deadline:.0f} s)"
        )


def alerts_delivered(
    host: Any, expected: list[Expected], status: str, after: float, what: str
) -> None:
    for e in expected:
        found = wait_for(
            lambda e=e: delivered(host, e, status, after), 90, f"{status} {e} at the webhook"
        )
        delay = found["record"]["received"] - after
        event = "fault" if status == "firing" else "repair"
        FIGURES.append(f"{what}: {status} {e} delivered {delay:.0f} s after the {event}")


def resolved(expected: list[Expected]) -> None:
    """Wait until no alert the fault raised is active any more. Others may be: the failed
    tool calls of a fault burn the MCP availability SLO's error budget, and its burn-rate
    alert rightly stays until its short window has passed."""
    wait_for(
        lambda: not [a for a in active_alerts() if any(e.matches(a) for e in expected)],
        60,
        "the fault's alerts no longer active",
    )
