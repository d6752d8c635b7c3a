"""The locks and the wheelhouse built from them (playbooks/wheelhouse.yml).

The lock files agree with each other, and the playbook's helper selects each Python
version's requirements from the universal lock and writes the archive's lock. (That two builds
give the same shield-rag wheel is checked by tests/stack-artifacts.sh whenever it builds the
wheelhouse: a second build without dependencies, compared.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "wheelhouse_lock", ROOT / "playbooks" / "files" / "wheelhouse_lock.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


helper = _helper()


def _pins(name: str) -> dict[tuple[str, str], object]:
    text = (LOCKS / f"{name}.lock").read_text(encoding="utf-8")
    return {(p.name, p.version): p for p in helper.parse_lock(text)}


@pytest.mark.parametrize("lock", ["services", "dev", "bench"])
def test_every_requirement_of_each_lock_is_an_exact_hashed_pin(lock: str) -> None:
    # parse_lock refuses anything else.
    assert len(_pins(lock)) > 50


@pytest.mark.parametrize("lock", ["dev", "bench"])
def test_the_dev_and_bench_locks_keep_the_services_pins(lock: str) -> None:
    services = dict(_pins("services").keys())  # name: version
    other = dict(_pins(lock).keys())
    differing = {n: (v, other[n]) for n, v in services.items() if other.get(n, v) != v}
    assert differing == {}
    assert set(services) <= set(other)


def test_the_installer_lock_is_uv_at_the_dev_pin_with_the_same_hashes() -> None:
    """The hosts install releases with the uv the project's own tools use (shield_runtime)."""
    (installer,) = _pins("installer").values()
    dev = {n: p for (n, _unused), p in _pins("dev").items()}
    assert (installer.name, installer.version) == ("uv", dev["uv"].version)
    assert installer.hashes == dev["uv"].hashes
    assert not set(_pins("installer")) & set(_pins("services"))


def test_the_lock_no_longer_carries_an_unused_direct_dependency() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"tenacity' not in pyproject


def test_each_python_version_gets_its_own_pins() -> None:
    pins = helper.parse_lock((LOCKS / "services.lock").read_text(encoding="utf-8"))
    by_python = {v: {p.name: p.version for p in helper.select(pins, v)} for v in ("3.11", "3.13")}
    # Split pins (a version per Python) and pins only some Python versions need.
    py311, py313 = by_python["3.11"], by_python["3.13"]
    split = {n for n, v in py311.items() if py313.get(n, v) != v}
    assert split, "the universal lock has no version split between 3.11 and 3.13 any more"
    assert "async-timeout" in by_python["3.11"]  # python_full_version < '3.11.3' (Debian 12)
    assert "async-timeout" not in by_python["3.13"]
    # Nothing for other platforms.
    for selected in by_python.values():
        assert "pywin32" not in selected
        assert "colorama" not in selected


def test_the_archive_lock_adds_the_hash_of_a_wheel_built_here(tmp_path: Path) -> None:
    lock = (
        "pyyaml==6.0.2 ; python_full_version >= '3.11' \\\n"
        "    --hash=sha256:" + "a" * 64 + "\n"
        "    # via shield-rag\n"
        "six==1.17.0 \\\n    --hash=sha256:" + "b" * 64 + "\n"
    )
    (tmp_path / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"built here")
    (tmp_path / "shield_rag-0.1.0-py3-none-any.whl").write_bytes(b"the package")
    out = helper.archive_lock(lock, tmp_path)
    built = "sha256:" + hashlib.sha256(b"built here").hexdigest()
    pins = {p.name: p for p in helper.parse_lock(out)}
    assert pins["six"].hashes == ("sha256:" + "b" * 64, built)
    assert str(pins["pyyaml"].marker) == 'python_full_version >= "3.11"'
    assert set(pins) == {"pyyaml", "six"}

    (tmp_path / "extra-1.0-py3-none-any.whl").write_bytes(b"not locked")
    with pytest.raises(SystemExit, match=r"extra==1\.0"):
        helper.archive_lock(lock, tmp_path)
