"""Section 7's shape of a run: read from the json callback, and the playbook made of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.bench import shape

HOST = "shield-demo"


def _task(action: str, **result: object) -> dict[str, object]:
    return {"task": {"name": action}, "hosts": {HOST: {"action": action, **result}}}


def _log(tmp_path: Path, plays: list[list[dict[str, object]]], changed: int = 0) -> Path:
    data = {
        "plays": [{"tasks": tasks} for tasks in plays],
        "stats": {HOST: {"changed": changed, "failures": 0, "unreachable": 0}},
    }
    path = tmp_path / "run.json"
    path.write_text("[WARNING]: a warning first\n" + json.dumps(data) + "\ntrailing\n")
    return path


def test_each_result_gets_its_kind(tmp_path: Path) -> None:
    log = _log(
        tmp_path,
        [
            [_task("ansible.builtin.setup"), _task("shield.rag.drift")],
            [
                _task("ansible.builtin.assert"),
                _task("ansible.builtin.stat", _ansible_delegated_vars={"ansible_host": "x"}),
                _task("ansible.builtin.command", skipped=True),
                _task("ansible.builtin.include_tasks"),
            ],
        ],
    )
    assert shape.read(log, HOST) == [
        [shape.FACTS, shape.REMOTE],
        [shape.LOCAL, shape.LOCAL, shape.SKIPPED, shape.LOCAL],
    ]


def test_a_run_that_changed_something_is_refused(tmp_path: Path) -> None:
    log = _log(tmp_path, [[_task("shield.rag.drift")]], changed=1)
    with pytest.raises(ValueError, match="no re-converge"):
        shape.read(log, HOST)


def test_the_playbook_has_the_shape(tmp_path: Path) -> None:
    kinds = [[shape.FACTS, shape.REMOTE, shape.SKIPPED], [shape.LOCAL, shape.REMOTE]]
    plays = yaml.safe_load(shape.playbook(kinds, HOST))
    assert [p["hosts"] for p in plays] == [HOST, HOST]
    modules = [[next(k for k in t if k.startswith("ansible.")) for t in p["tasks"]] for p in plays]
    assert modules == [
        ["ansible.builtin.setup", "ansible.builtin.ping", "ansible.builtin.debug"],
        ["ansible.builtin.set_fact", "ansible.builtin.ping"],
    ]
    assert plays[0]["tasks"][2]["when"] is False
    assert shape.counts(kinds) == {
        shape.FACTS: 1,
        shape.REMOTE: 2,
        shape.SKIPPED: 1,
        shape.LOCAL: 1,
    }
