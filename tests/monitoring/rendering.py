"""Render the monitoring role's files without a host, the way the role does: the one renderer of
tests/monitoring and tests/grafana.

ansible-playbook runs render.yml (next to this file) in a work directory beside a `templates`
link to roles/monitoring/templates: from there the role's templates find what they import
(alert_exprs.j2) and look up (targets.yml.j2), as they do inside the role. With grafana=True
the play also runs the role's own tasks/grafana.yml, which renders the Grafana provisioning
within the role (the caller switches the install off and points its directories into out/).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.localplay import run_play

ROOT = Path(__file__).resolve().parents[2]
ROLE_DIR = ROOT / "roles" / "monitoring"
RENDER_PLAYBOOK = Path(__file__).with_name("render.yml")

# One host in every group: the single-node layout (inventories/local).
SINGLE_HOST = {
    "all": {
        "hosts": {"monitoring": {"ansible_connection": "local"}},
        "children": {
            group: {"hosts": {"monitoring": {}}}
            for group in (
                "redis",
                "qdrant",
                "lightrag",
                "orchestrator",
                "workers",
                "mcp",
                "monitoring",
            )
        },
    }
}


@dataclass
class Rendered:
    """The files the role would write, rendered into workdir/out, and ansible-playbook's output."""

    workdir: Path
    output: str

    @property
    def dir(self) -> Path:
        return self.workdir / "out"

    def path(self, name: str) -> Path:
        return self.dir / name

    def yaml(self, name: str) -> Any:
        return yaml.safe_load(self.path(name).read_text(encoding="utf-8"))

    @property
    def targets(self) -> list[dict[str, Any]]:
        return json.loads(self.path("targets.json").read_text(encoding="utf-8"))

    @property
    def changed(self) -> int:
        """Tasks that changed something, over the hosts of the PLAY RECAP."""
        found = re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", self.output, re.M)
        assert found, f"no PLAY RECAP in:\n{self.output}"
        return sum(int(n) for n in found)


def render_role(
    workdir: Path,
    inventory: dict[str, Any] | None = None,
    extra_vars: dict[str, Any] | None = None,
    host: str = "monitoring",
    grafana: bool = False,
) -> Rendered:
    """Render into workdir/out for `host` of `inventory`; extra_vars may refer to the output
    directory as {{ shield_render_dir }}. Fails the test when the play fails."""
    inventory = SINGLE_HOST if inventory is None else inventory
    out = workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    link = workdir / "templates"
    if not link.exists():
        link.symlink_to(ROLE_DIR / "templates")
    variables = {
        "ansible_python_interpreter": sys.executable,
        "shield_role_dir": str(ROLE_DIR),
        "shield_render_dir": str(out),
        "shield_render_host": host,
        "shield_render_grafana": grafana,
        **(extra_vars or {}),
    }
    (workdir / "vars.json").write_text(json.dumps(variables), encoding="utf-8")
    # The role's tasks call the collection's own modules (shield.rag.files): this checkout is
    # shield.rag for the play, whatever ANSIBLE_COLLECTIONS_PATH the caller has.
    result = run_play(
        workdir,
        RENDER_PLAYBOOK.read_text(encoding="utf-8"),
        inventory,
        args=("-e", "@vars.json"),
        env={"ANSIBLE_ROLES_PATH": str(ROLE_DIR.parent)},
    )
    assert result.returncode == 0, f"rendering failed:\n{result.output}"
    return Rendered(workdir, result.output)
