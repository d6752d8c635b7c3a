"""The shape of a ``site.yml`` run and a playbook of that shape doing nothing (section 7).

Read from one run with Ansible's ``json`` stdout callback: per play, in order, each task as
one of four kinds: ``facts`` (the fact gathering module), ``remote`` (a module that ran on the
host: one round trip), ``local`` (an action the controller answers alone: assert, set_fact,
debug, include_tasks, meta, argument validation, or a task delegated to the controller) and
``skipped``. The playbook of that shape has the same plays, on the same host, with become,
and in each the same sequence: ``setup`` for facts, ``ping`` for a round trip, ``set_fact``
for a controller task and a ``debug`` that is skipped. Timed over the same connection it is
what Ansible itself charges for that many tasks and round trips: what a re-converge costs
beyond it is what the roles' own arguments, templates and modules cost.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

FACTS, REMOTE, LOCAL, SKIPPED = "facts", "remote", "local", "skipped"
CONTROLLER_ACTIONS = frozenset(
    {
        "assert",
        "set_fact",
        "debug",
        "include_tasks",
        "import_tasks",
        "include_role",
        "meta",
        "validate_argument_spec",
        "fail",
    }
)
FACT_ACTIONS = frozenset({"setup", "gather_facts"})


def _short(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def kind(result: dict[str, Any]) -> str:
    """The kind of one host's result of one task (see the module docstring)."""
    if result.get("skipped"):
        return SKIPPED
    action = _short(str(result.get("action", "")))
    if action in FACT_ACTIONS:
        return FACTS
    if action in CONTROLLER_ACTIONS or "_ansible_delegated_vars" in result:
        return LOCAL
    return REMOTE


def read(json_log: Path, host: str) -> list[list[str]]:
    """Per play, the kinds of ``host``'s tasks in the run ``json_log`` holds (the json
    callback's output; what is printed around it is ignored). ValueError when the run
    changed something on ``host``: its shape would not be a re-converge's."""
    text = json_log.read_text(encoding="utf-8")
    start = text.find("{")
    if start < 0:
        raise ValueError(f"{json_log}: no JSON output (was ANSIBLE_STDOUT_CALLBACK=json set?)")
    data, _unused = json.JSONDecoder().raw_decode(text[start:])
    stats = data["stats"].get(host, {})
    if stats.get("changed") or stats.get("failures") or stats.get("unreachable"):
        raise ValueError(f"{json_log}: the run was no re-converge of {host}: {stats}")
    plays = []
    for play in data["plays"]:
        kinds = [kind(task["hosts"][host]) for task in play["tasks"] if host in task["hosts"]]
        plays.append(kinds)
    if not any(plays):
        raise ValueError(f"{json_log}: no task ran on {host}")
    return plays


def counts(plays: list[list[str]]) -> Counter[str]:
    """How many tasks of each kind the shape has."""
    return Counter(k for play in plays for k in play)


def playbook(plays: list[list[str]], host: str) -> str:
    """The YAML of a playbook with the shape ``plays`` on ``host`` that changes nothing."""
    steps: dict[str, dict[str, Any]] = {
        FACTS: {"ansible.builtin.setup": {}},
        REMOTE: {"ansible.builtin.ping": {}},
        LOCAL: {"ansible.builtin.set_fact": {"shape_step": True}},
        SKIPPED: {"ansible.builtin.debug": {"msg": "skipped"}, "when": False},
    }
    doc = [
        {
            "name": f"Play {i} of the shape",
            "hosts": host,
            "gather_facts": False,
            "become": True,
            "tasks": [{"name": f"{k} {j}", **steps[k]} for j, k in enumerate(kinds, 1)],
        }
        for i, kinds in enumerate(plays, 1)
    ]
    return yaml.safe_dump(doc, sort_keys=False)
