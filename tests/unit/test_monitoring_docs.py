"""The on-call documentation covers every alert and every dashboard panel the role ships."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"
RUNBOOK = (ROOT / "docs" / "runbook-alerts.md").read_text()
DASHBOARDS_DOC = (ROOT / "docs" / "dashboards.md").read_text()


def _headings(text: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}


def _alert_names() -> list[str]:
    names = []
    for template in sorted((ROLE / "templates" / "rules").glob("*.j2")):
        text = template.read_text()
        # `- alert: Name`, or a name given to a loop that writes `- alert: {{ alert }}`.
        names += re.findall(r"^\s*- alert: (\w+)", text, re.MULTILINE)
        names += re.findall(r"'(Shield\w+)'", text)
    return sorted(set(names))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


DASHBOARDS = sorted((ROLE / "files" / "grafana" / "dashboards").glob("*.json"))


def test_the_rule_templates_define_alerts() -> None:
    assert len(_alert_names()) >= 17


@pytest.mark.parametrize("alert", _alert_names())
def test_every_prometheus_alert_has_a_runbook_entry(alert: str) -> None:
    assert alert in _headings(RUNBOOK), f"docs/runbook-alerts.md has no section {alert}"
    section = RUNBOOK.split(f"### {alert}", 1)[1].split("\n#", 1)[0]
    assert len(section.split()) >= 30, f"the runbook entry of {alert} is too short to act on"


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.stem)
def test_every_dashboard_panel_is_described(dashboard: Path) -> None:
    data = json.loads(dashboard.read_text())
    assert f"(`{data['uid']}`)" in DASHBOARDS_DOC, f"docs/dashboards.md lacks {data['uid']}"
    titles = [p["title"] for p in _panels(data["panels"]) if p.get("title")]
    missing = [t for t in titles if t not in DASHBOARDS_DOC]
    assert not missing, f"docs/dashboards.md does not describe {missing}"
