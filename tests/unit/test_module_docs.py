"""Every module of the collection documents exactly the options it declares.

The documentation is read as operators read it, from ``ansible-doc --json`` (so the doc
fragments a module extends are merged in); the argument spec is what ``AnsibleModule``
enforces, read by running the module's ``main()`` with ``AnsibleModule`` replaced by one that
prints the keyword arguments it was given and stops, so a spec written inline in ``main()`` is
compared as well as a module-level constant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.modules import ROOT, link_collection

MODULES = sorted((ROOT / "plugins" / "modules").glob("[!_]*.py"))

# Run in a child: AnsibleModule records what main() gives it, prints it as JSON and exits.
CAPTURE = """
import json, runpy, sys
from ansible.module_utils import basic

class Captured(SystemExit):
    pass

def capture(self, argument_spec, **kwargs):
    print(json.dumps({"argument_spec": argument_spec, **kwargs}, default=repr))
    raise Captured(0)

basic.AnsibleModule.__init__ = capture
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def declared(module: Path, tmp_path: Path) -> dict[str, Any]:
    collections = link_collection(tmp_path / "collections")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(collections), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", CAPTURE, str(module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def ansible_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``ansible-doc --json`` of every module, by short name."""
    collections = link_collection(tmp_path_factory.mktemp("doc") / "collections")
    names = [f"shield.rag.{m.stem}" for m in MODULES]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-t", "module", "--json", *names],
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {name.rsplit(".", 1)[1]: doc for name, doc in json.loads(done.stdout).items()}


def compare(docs: dict[str, Any], spec: dict[str, Any], where: str = "") -> list[str]:
    """Where the documented options and the declared ones differ (empty when they agree)."""
    wrong = [f"{where}{name}: declared, not documented" for name in spec.keys() - docs.keys()]
    wrong += [f"{where}{name}: documented, not declared" for name in docs.keys() - spec.keys()]
    for name in spec.keys() & docs.keys():
        option, doc = spec[name], docs[name]
        for key in ("type", "elements", "default", "choices"):
            if doc.get(key) != option.get(key):
                wrong.append(f"{where}{name}.{key}: {doc.get(key)!r} != {option.get(key)!r}")
        if bool(doc.get("required")) != bool(option.get("required")):
            wrong.append(f"{where}{name}.required")
        if not doc.get("description"):
            wrong.append(f"{where}{name}: no description")
        if "options" in option:
            wrong += compare(doc.get("suboptions") or {}, option["options"], f"{where}{name}.")
    return wrong


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.stem)
def test_documentation_matches_the_argument_spec(
    module: Path, ansible_doc: dict[str, Any], tmp_path: Path
) -> None:
    found = ansible_doc[module.stem]
    spec = declared(module, tmp_path)["argument_spec"]

    assert found["doc"]["module"] == module.stem
    assert found["doc"]["short_description"]
    assert yaml.safe_load(found["examples"]), "no examples"
    assert found["return"], "no return values documented"
    assert compare(found["doc"]["options"], spec) == []


def test_compare_names_each_difference() -> None:
    """The comparison itself: a missing, an extra and a wrong option are each reported."""
    spec = {"a": {"type": "str", "default": "x"}, "b": {"type": "int", "required": True}}
    docs = {
        "a": {"type": "str", "default": "y", "description": "A."},
        "c": {"type": "bool", "description": "C."},
    }

    assert sorted(compare(docs, spec)) == [
        "a.default: 'y' != 'x'",
        "b: declared, not documented",
        "c: documented, not declared",
    ]
