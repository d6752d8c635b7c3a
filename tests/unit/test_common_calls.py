"""Every call of an entry point of the internal role shield.rag.common keeps to its argument spec.

The Shield roles call shield.rag.common with ``rolespec_validate: false``: what a call passes
is written in the collection and cannot change after a release, so it is checked here, once,
instead of by a validation task on every run of every operator. The operator's own variables
are still validated at run time by each public role's ``main`` argument spec, and a play that
calls an entry point of shield.rag.common directly (validation on, the default) still fails
without ``_common_parent_role``, which has no default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = ROOT / "roles"
COMMON = "shield.rag.common"
ROLE_ACTIONS = ("ansible.builtin.import_role", "ansible.builtin.include_role")
LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "bool": (bool,),
    "int": (int,),
    "list": (list,),
    "dict": (dict,),
}


@dataclass(frozen=True)
class Call:
    """One import_role/include_role of shield.rag.common, with the variables in its scope."""

    where: str
    entry_point: str
    options: dict[str, Any]
    validate: Any
    block_vars: dict[str, Any]
    block_entry_points: tuple[str, ...]


def _specs() -> dict[str, dict[str, Any]]:
    text = (ROLES_DIR / "common" / "meta" / "argument_specs.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["argument_specs"]


def _entry_points_in(tasks: list[dict[str, Any]]) -> tuple[str, ...]:
    found: list[str] = []
    for task in tasks:
        for action in ROLE_ACTIONS:
            args = task.get(action)
            if isinstance(args, dict) and args.get("name") == COMMON:
                found.append(str(args.get("tasks_from", "main")))
        for key in ("block", "rescue", "always"):
            found.extend(_entry_points_in(task.get(key) or []))
    return tuple(found)


def _walk(
    tasks: list[dict[str, Any]], where: str, scope: dict[str, Any], scope_eps: tuple[str, ...]
) -> Iterator[Call]:
    for task in tasks:
        name = f"{where}: {task.get('name', '?')}"
        for action in ROLE_ACTIONS:
            args = task.get(action)
            if isinstance(args, dict) and args.get("name") == COMMON:
                yield Call(
                    where=name,
                    entry_point=str(args.get("tasks_from", "main")),
                    options=scope | (task.get("vars") or {}),
                    validate=args.get("rolespec_validate", True),
                    block_vars=scope,
                    block_entry_points=scope_eps,
                )
        if "block" in task:
            inner = [t for key in ("block", "rescue", "always") for t in task.get(key) or []]
            yield from _walk(inner, name, scope | (task.get("vars") or {}), _entry_points_in(inner))


def _calls() -> list[Call]:
    calls: list[Call] = []
    for path in sorted(ROLES_DIR.glob("*/tasks/*.yml")):
        tasks = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        calls.extend(_walk(tasks, str(path.relative_to(ROOT)), {}, ()))
    return calls


CALLS = _calls()
SPECS = _specs()


def test_the_roles_call_common() -> None:
    # The parametrised tests below check nothing if the walk finds no call.
    assert {c.entry_point for c in CALLS} >= {"preflight", "config", "service", "release_archive"}


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.where} -> {c.entry_point}")
def test_call_names_an_entry_point_and_skips_run_time_validation(call: Call) -> None:
    assert call.entry_point in SPECS and call.entry_point != "main", call.where
    assert call.validate is False, (
        f"{call.where}: set rolespec_validate: false (this test checks the call instead)"
    )


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.where} -> {c.entry_point}")
def test_call_passes_every_required_option(call: Call) -> None:
    options = SPECS[call.entry_point].get("options") or {}
    missing = sorted(n for n, o in options.items() if o.get("required") and n not in call.options)
    assert not missing, f"{call.where}: {call.entry_point} requires {missing}"


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.where} -> {c.entry_point}")
def test_call_passes_only_options_of_its_entry_points(call: Call) -> None:
    # A block's variables serve every call inside it (config and service share theirs).
    own = set(SPECS[call.entry_point].get("options") or {})
    shared = {n for ep in call.block_entry_points for n in SPECS[ep].get("options") or {}}
    unknown = sorted(
        n
        for n in call.options
        if n.startswith("_common_") and n not in (shared if n in call.block_vars else own)
    )
    assert not unknown, f"{call.where}: {call.entry_point} has no option {unknown}"


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.where} -> {c.entry_point}")
def test_literal_values_have_the_spec_type_and_choice(call: Call) -> None:
    options = SPECS[call.entry_point].get("options") or {}
    wrong = []
    for name, value in call.options.items():
        spec = options.get(name)
        if spec is None or (isinstance(value, str) and "{{" in value):
            continue  # another entry point's option, or a template resolved at run time
        types = LITERAL_TYPES.get(spec.get("type", "str"), (object,))
        if not isinstance(value, types) or (spec.get("type") == "int" and isinstance(value, bool)):
            wrong.append(f"{name}: {value!r} is no {spec.get('type', 'str')}")
        elif "choices" in spec and value not in spec["choices"]:
            wrong.append(f"{name}: {value!r} is not one of {spec['choices']}")
    assert not wrong, f"{call.where}: {wrong}"
