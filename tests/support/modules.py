"""Run the collection's modules (plugins/modules) as Ansible runs them: a module file and a
JSON arguments file, in a Python that can import ``ansible_collections.shield.rag`` (the
modules import the collection's plugins/module_utils that way, as AnsiballZ ships them)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "plugins" / "modules"


@functools.cache
def _collections_root() -> str:
    """A directory holding ansible_collections/shield/rag → this checkout (made once per run)."""
    root = Path(tempfile.mkdtemp(prefix="shield-collections-"))
    namespace = root / "ansible_collections" / "shield"
    namespace.mkdir(parents=True)
    (namespace / "rag").symlink_to(ROOT, target_is_directory=True)
    return str(root)


def module_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (or this process's environment) with the collection importable."""
    result = dict(os.environ if env is None else env)
    paths = [_collections_root(), result.get("PYTHONPATH", "")]
    result["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return result


def run_module(
    name: str, args: dict, workdir: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run plugins/modules/NAME.py with ``args`` as its module arguments; the finished process."""
    args_file = workdir / f"{name}-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(MODULES / f"{name}.py"), str(args_file)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=module_env(env),
        check=False,
    )
