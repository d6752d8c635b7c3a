"""The shield.rag.release module (plugins/modules/release.py), run as Ansible runs it.

Each case builds a runtime home of its own: release directories as shield_runtime leaves them
(manifest.json, freeze.txt, settings/ mirroring the rendered files below a fake root), a
virtualenv whose `python -m pip freeze` prints a file the case controls, and live settings
and unit files. The module's JSON answer and the files it leaves are what is checked.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.modules import Modules

RunModule = Callable[..., dict]

FREEZE = "anyio==4.6.0\npip==24.0\nshield-rag @ file:///incoming/shield_rag-0.1.0.whl\n"


@pytest.fixture
def run_module(modules: Modules) -> RunModule:
    return functools.partial(modules.run, "release")


class Home:
    """A runtime home with releases, and a fake root for the settings and unit files."""

    def __init__(self, base: Path) -> None:
        self.home = base / "opt"
        self.root = base / "root"
        (self.home / "releases").mkdir(parents=True)
        self.root.mkdir()

    def live(self, rel: str) -> Path:
        return self.root / rel

    def add(
        self,
        name: str,
        *,
        installed_at: str,
        schema: int = 1,
        settings: dict[str, str] | None = None,
        freeze_now: str = FREEZE,
    ) -> Path:
        path = self.home / "releases" / name
        python = path / "venv" / "bin" / "python"
        python.parent.mkdir(parents=True)
        (path / "freeze.now").write_text(freeze_now, encoding="utf-8")
        python.write_text('#!/bin/sh\ncat "$(dirname "$0")/../../freeze.now"\n', encoding="utf-8")
        python.chmod(0o755)
        (path / "freeze.txt").write_text(FREEZE, encoding="utf-8")
        for rel, text in (settings or {}).items():
            copy = path / "settings" / str(self.live(rel)).lstrip("/")
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(text, encoding="utf-8")
            copy.chmod(0o640)
        manifest = {
            "release": name,
            "version": name.split("-")[0],
            "archive_sha256": name.split("-")[1] * 4,
            "settings_schema": schema,
            "installed_at": installed_at,
        }
        (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        return path

    def point(self, link: str, name: str) -> None:
        (self.home / link).symlink_to(self.home / "releases" / name)

    def target(self, link: str) -> str:
        return Path(os.readlink(self.home / link)).name


@pytest.fixture
def home(tmp_path: Path) -> Home:
    h = Home(tmp_path)
    h.add("0.1.0-aaaa", installed_at="2026-12-01T10:00:00", settings={"etc/o.yml": "a: 1\n"})
    h.add("0.2.0-bbbb", installed_at="2026-12-02T10:00:00", settings={"etc/o.yml": "a: 2\n"})
    h.point("current", "0.2.0-bbbb")
    h.point("previous", "0.1.0-aaaa")
    h.live("etc").mkdir()
    h.live("etc/o.yml").write_text("a: 2\n", encoding="utf-8")
    return h


def test_reading_lists_releases_oldest_first_and_changes_nothing(
    run_module: RunModule, home: Home
) -> None:
    (home.home / "releases" / "0.3.0-cccc").mkdir()  # an interrupted install: no manifest
    result = run_module({"home": str(home.home)})
    assert result["changed"] is False
    assert [r["name"] for r in result["releases"]] == ["0.1.0-aaaa", "0.2.0-bbbb"]
    assert (result["current"], result["previous"]) == ("0.2.0-bbbb", "0.1.0-aaaa")
    assert result["releases"][0]["settings"] == [str(home.live("etc/o.yml"))]


def test_rollback_to_previous_swaps_the_links_and_puts_back_its_settings(
    run_module: RunModule, home: Home
) -> None:
    args = {
        "home": str(home.home),
        "release": "previous",
        "verify_freeze": True,
        "restore_settings": True,
    }
    checked = run_module(args, check=True)
    assert checked["changed"] is True
    assert checked["changed_paths"] == [str(home.live("etc/o.yml"))]
    assert home.target("current") == "0.2.0-bbbb"
    assert home.live("etc/o.yml").read_text(encoding="utf-8") == "a: 2\n"

    result = run_module(args)
    assert result["changed"] is True
    assert result["selected_from"] == "0.2.0-bbbb"
    assert (home.target("current"), home.target("previous")) == ("0.1.0-aaaa", "0.2.0-bbbb")
    assert home.live("etc/o.yml").read_text(encoding="utf-8") == "a: 1\n"
    assert oct(home.live("etc/o.yml").stat().st_mode & 0o777) == "0o640"

    again = run_module(dict(args, release="0.1.0-aaaa"))
    assert again["changed"] is False


def test_a_changed_virtualenv_is_refused_before_any_change(
    run_module: RunModule, home: Home
) -> None:
    (home.home / "releases" / "0.1.0-aaaa" / "freeze.now").write_text(
        FREEZE.replace("anyio==4.6.0", "anyio==4.7.0"), encoding="utf-8"
    )
    result = run_module({"home": str(home.home), "release": "previous", "verify_freeze": True})
    assert result["failed"] is True
    assert "- anyio==4.6.0" in result["msg"] and "+ anyio==4.7.0" in result["msg"]
    assert home.target("current") == "0.2.0-bbbb"


def test_a_schema_change_without_the_old_rendering_is_refused(
    run_module: RunModule, home: Home
) -> None:
    home.add(
        "0.3.0-cccc",
        installed_at="2026-12-03T10:00:00",
        schema=2,
        settings={"etc/o.yml": "b: 3\n", "etc/mcp.yml": "m: 1\n"},
    )
    os.unlink(home.home / "current")
    home.point("current", "0.3.0-cccc")
    args = {"home": str(home.home), "release": "0.2.0-bbbb", "restore_settings": True}
    result = run_module(args)
    assert result["failed"] is True
    assert "schema 1" in result["msg"] and "schema 2" in result["msg"]
    assert str(home.live("etc/mcp.yml")) in result["msg"]
    assert home.target("current") == "0.3.0-cccc"

    # The same schema: the file the older release never rendered is kept as it is.
    home.add("0.2.1-dddd", installed_at="2026-12-04T10:00:00", schema=2, settings={})
    kept = run_module(dict(args, release="0.2.1-dddd"))
    assert kept["changed"] is True and kept["changed_paths"] == []
    assert home.target("current") == "0.2.1-dddd"


def test_unknown_release_names_what_is_installed(run_module: RunModule, home: Home) -> None:
    result = run_module({"home": str(home.home), "release": "9.9.9-ffff"})
    assert result["failed"] is True
    assert "9.9.9-ffff is not installed" in result["msg"]
    assert "0.1.0-aaaa, 0.2.0-bbbb" in result["msg"]


def test_units_are_marked_with_the_selected_archive_digest(
    run_module: RunModule, home: Home
) -> None:
    unit = home.live("etc/shield-o.service")
    unit.write_text("# x\n# shield-rag package: wheelhouse sha256 bbbb\n[Unit]\n", encoding="utf-8")
    result = run_module(
        {"home": str(home.home), "release": "previous", "units": [str(unit), str(unit) + ".no"]}
    )
    assert str(unit) in result["changed_paths"]
    assert "wheelhouse sha256 aaaaaaaaaaaaaaaa\n[Unit]" in unit.read_text(encoding="utf-8")


def test_prune_keeps_current_and_previous_and_removes_partials(
    run_module: RunModule, home: Home
) -> None:
    home.add("0.3.0-cccc", installed_at="2026-12-03T10:00:00")
    home.add("0.4.0-dddd", installed_at="2026-12-04T10:00:00")
    (home.home / "releases" / "0.5.0-eeee").mkdir()
    checked = run_module({"home": str(home.home), "keep": 3}, check=True)
    assert checked["pruned"] == ["0.3.0-cccc", "0.5.0-eeee"]
    assert (home.home / "releases" / "0.3.0-cccc").is_dir()

    result = run_module({"home": str(home.home), "keep": 3})
    assert result["changed"] is True
    left = sorted(p.name for p in (home.home / "releases").iterdir())
    assert left == ["0.1.0-aaaa", "0.2.0-bbbb", "0.4.0-dddd"]
    assert run_module({"home": str(home.home), "keep": 3})["changed"] is False
