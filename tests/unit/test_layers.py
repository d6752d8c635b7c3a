"""Each service loads only its own layer and those below it (see README, "Layers"; the
import-linter contracts in pyproject.toml check the imports themselves)."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(module: str) -> set[str]:
    """The shield_rag modules a fresh interpreter holds after importing ``module``."""
    code = (
        "import json, sys, importlib\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('shield_rag'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def under(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_the_orchestrator_does_not_load_the_worker() -> None:
    # The worker's pipeline would register its metrics in the orchestrator's registry.
    loaded = loaded_after("shield_rag.orchestrator.app")
    assert "shield_rag.documents" in loaded
    assert not under(loaded, "shield_rag.worker")
    assert not under(loaded, "shield_rag.mcp")


def test_the_mcp_server_talks_to_the_orchestrator_only_over_http() -> None:
    loaded = loaded_after("shield_rag.mcp.server")
    for package in ("clients", "jobs", "ingest", "worker", "orchestrator", "redis_conn"):
        assert not under(loaded, f"shield_rag.{package}"), package
