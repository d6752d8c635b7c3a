"""The Galaxy artifact: what `ansible-galaxy collection build` puts in it, and what it keeps out."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_GALAXY = Path(sys.executable).with_name("ansible-galaxy")


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "ANSIBLE_HOME": str(out / "ansible-home")}
    subprocess.run(
        [str(ANSIBLE_GALAXY), "collection", "build", "--output-path", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    (artifact,) = out.glob("shield-rag-*.tar.gz")
    with tarfile.open(artifact) as tar:
        return tar.getnames()


def test_artifact_carries_roles_playbooks_and_the_service_package(members: list[str]) -> None:
    for required in (
        "galaxy.yml" if "galaxy.yml" in members else "MANIFEST.json",
        "playbooks/site.yml",
        "playbooks/wheelhouse.yml",
        "playbooks/files/wheelhouse_lock.py",
        "requirements/services.lock",
        "requirements/installer.lock",  # playbooks/wheelhouse.yml carries it to the hosts
        "roles/qdrant/meta/argument_specs.yml",
        "roles/common/templates/shield-service.service.j2",
        "src/shield_rag/__init__.py",
        # The one weak-secret policy: roles/common reads it at roles/common/../../src/...
        "src/shield_rag/settings/secret_policy.yml",
        "roles/common/tasks/secrets.yml",
        "roles/common/tasks/release_archive.yml",
        "roles/common/tasks/platform.yml",
        "pyproject.toml",
    ):
        assert required in members, required


@pytest.mark.parametrize("prefix", [".cache", ".venv", "tests", "molecule", ".ci", "build"])
def test_artifact_leaves_out_local_and_test_files(members: list[str], prefix: str) -> None:
    leaked = [m for m in members if m == prefix or m.startswith(prefix + "/")]
    assert leaked == []


def test_artifact_has_no_compiled_python(members: list[str]) -> None:
    assert [m for m in members if "__pycache__" in m or m.endswith(".pyc")] == []


def test_artifact_has_no_hidden_files(members: list[str]) -> None:
    """Tool caches (.mypy_cache, .import_linter_cache, .hypothesis ...) stay out: they carry
    the build machine's paths and weigh more than the collection."""
    assert [m for m in members if any(part.startswith(".") for part in m.split("/"))] == []
