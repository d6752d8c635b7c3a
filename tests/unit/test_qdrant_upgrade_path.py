"""shield.rag.qdrant's upgrade rule (plugins/filter/qdrant_upgrade.py): one minor version at a
time, patches freely, downgrades only when allowed; which release the qdrant link holds, read
from shield.rag.drift's answer; which old releases may go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from plugins.filter.qdrant_upgrade import (
    FilterModule,
    qdrant_linked_version,
    qdrant_releases_to_prune,
    qdrant_upgrade_path,
)

from tests.support.modules import Modules

LINK = "/usr/local/bin/qdrant"
ROOT = "/opt/qdrant"
WANTED = "/opt/qdrant/1.19.1/qdrant"


# -- qdrant_upgrade_path --------------------------------------------------------------------
def test_the_same_version_is_nothing_to_do() -> None:
    path = qdrant_upgrade_path("1.19.1", "1.19.1")
    assert (path["allowed"], path["kind"]) == (True, "none")


@pytest.mark.parametrize("current", ["", None, "  "])
def test_no_current_release_is_an_install(current: str | None) -> None:
    path = qdrant_upgrade_path(current, "1.19.1")
    assert (path["allowed"], path["kind"], path["current"]) == (True, "install", "")


def test_a_patch_upgrade_is_allowed() -> None:
    path = qdrant_upgrade_path("1.19.0", "1.19.3")
    assert (path["allowed"], path["kind"]) == (True, "patch")
    assert "within 1.19" in path["message"]


@pytest.mark.parametrize("current", ["1.18.0", "1.18.7"])
def test_one_minor_version_up_is_allowed_from_any_patch(current: str) -> None:
    path = qdrant_upgrade_path(current, "1.19.1")
    assert (path["allowed"], path["kind"]) == (True, "minor")
    assert "snapshots taken on 1.18" in path["message"]


def test_skipping_one_minor_version_is_refused_with_the_path() -> None:
    path = qdrant_upgrade_path("1.17.3", "1.19.1")
    assert (path["allowed"], path["kind"]) == (False, "skip")
    assert "Qdrant 1.17.3 to 1.19.1 skips 1 minor version," in path["message"]
    assert "Upgrade to the latest 1.18.x, then 1.19.1" in path["message"]


def test_skipping_several_minor_versions_names_every_step() -> None:
    path = qdrant_upgrade_path("1.15.2", "1.19.1")
    assert (path["allowed"], path["kind"]) == (False, "skip")
    assert "skips 3 minor versions" in path["message"]
    assert (
        "Upgrade to the latest 1.16.x, then the latest 1.17.x, then the latest 1.18.x, "
        "then 1.19.1" in path["message"]
    )


@pytest.mark.parametrize(("current", "wanted"), [("1.19.1", "2.0.0"), ("1.19.1", "3.1.0")])
def test_a_major_version_change_is_refused(current: str, wanted: str) -> None:
    path = qdrant_upgrade_path(current, wanted)
    assert (path["allowed"], path["kind"]) == (False, "major")
    assert "latest 1.x release first" in path["message"]


@pytest.mark.parametrize(
    ("current", "wanted", "storage"),
    [
        ("1.19.1", "1.19.0", "patch downgrade within 1.19"),
        ("1.19.1", "1.18.4", "storage written by 1.19.1 may not load in 1.18.4"),
        ("2.0.0", "1.19.1", "storage written by 2.0.0 may not load in 1.19.1"),
    ],
)
def test_a_downgrade_is_refused_unless_allowed(current: str, wanted: str, storage: str) -> None:
    refused = qdrant_upgrade_path(current, wanted)
    assert (refused["allowed"], refused["kind"]) == (False, "downgrade")
    assert storage in refused["message"]
    assert "playbooks/restore.yml" in refused["message"]
    assert "qdrant_allow_downgrade: true" in refused["message"]
    allowed = qdrant_upgrade_path(current, wanted, allow_downgrade=True)
    assert (allowed["allowed"], allowed["kind"]) == (True, "downgrade")
    assert storage in allowed["message"]


def test_versions_compare_as_numbers_not_text() -> None:
    assert qdrant_upgrade_path("1.9.2", "1.10.0")["kind"] == "minor"
    assert qdrant_upgrade_path("1.10.0", "1.9.2")["kind"] == "downgrade"


@pytest.mark.parametrize(
    ("wanted", "hint"),
    [
        ("1.19.0-rc1", "pre-release"),
        ("1.19.1+build5", "pre-release"),
        ("v1.19.1", "without the leading v: '1.19.1'"),
        ("1.19", "three numbers"),
        ("latest", "three numbers"),
        ("", "three numbers"),
    ],
)
def test_a_wanted_version_that_is_not_x_y_z_is_a_clear_error(wanted: str, hint: str) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        qdrant_upgrade_path("1.19.0", wanted)
    assert "(qdrant_version)" in str(caught.value)
    assert hint in str(caught.value)


def test_a_current_version_that_is_not_x_y_z_is_a_clear_error() -> None:
    with pytest.raises(AnsibleFilterError, match=r"/usr/local/bin/qdrant links to.*'dev'"):
        qdrant_upgrade_path("dev", "1.19.1")


# -- qdrant_linked_version ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("drift", "version"),
    [
        ([], "1.19.1"),
        (["/etc/qdrant/config.yaml: content differs"], "1.19.1"),
        ([f"{LINK}: links to /opt/qdrant/1.18.4/qdrant, not {WANTED}"], "1.18.4"),
        ([f"{LINK}: links to {WANTED}, which is missing"], "1.19.1"),
        ([f"{LINK}: missing"], ""),
        ([f"{LINK}: not a symbolic link"], ""),
        ([f"{LINK}: links to /srv/qdrant, not {WANTED}"], ""),
        ([f"{LINK}: links to /opt/qdrant/a/b/qdrant, not {WANTED}"], ""),
    ],
)
def test_the_linked_version_is_read_from_the_drift_answer(drift: list[str], version: str) -> None:
    assert qdrant_linked_version(drift, LINK, WANTED, ROOT) == version


def test_the_linked_version_agrees_with_what_drift_reports(
    modules: Modules, tmp_path: Path
) -> None:
    """The filter reads shield.rag.drift's sentences: run the module on real links."""
    root = tmp_path / "opt"
    for version in ("1.18.4", "1.19.1"):
        (root / version).mkdir(parents=True)
        (root / version / "qdrant").write_text("")
    wanted = str(root / "1.19.1" / "qdrant")
    link = tmp_path / "qdrant"

    def linked() -> str:
        spec = {"links": [{"dest": str(link), "src": wanted}]}
        answer = modules.run("drift", spec)
        return qdrant_linked_version(answer["drift"], str(link), wanted, str(root))

    assert linked() == ""
    link.symlink_to(root / "1.18.4" / "qdrant")
    assert linked() == "1.18.4"
    link.unlink()
    link.symlink_to(wanted)
    assert linked() == "1.19.1"
    os.remove(wanted)
    assert linked() == "1.19.1"


# -- qdrant_releases_to_prune ---------------------------------------------------------------
def _found(*names_mtimes: tuple[str, float]) -> list[dict]:
    return [{"path": f"{ROOT}/{name}", "mtime": mtime} for name, mtime in names_mtimes]


def test_pruning_keeps_current_previous_and_the_newest_others() -> None:
    found = _found(("1.16.0", 1), ("1.17.2", 2), ("1.18.4", 3), ("1.19.1", 4), ("tools", 0))
    current, previous = f"{ROOT}/1.19.1", f"{ROOT}/1.18.4"
    assert qdrant_releases_to_prune(found, 2, current, previous) == [
        f"{ROOT}/1.17.2",
        f"{ROOT}/1.16.0",
    ]
    assert qdrant_releases_to_prune(found, 3, current, previous) == [f"{ROOT}/1.16.0"]
    assert qdrant_releases_to_prune(found, 0, current, previous) == []


def test_pruning_never_removes_current_or_previous_even_with_keep_1() -> None:
    found = _found(("1.18.4", 9), ("1.19.1", 1), ("1.17.0", 5))
    removed = qdrant_releases_to_prune(found, 1, f"{ROOT}/1.18.4", f"{ROOT}/1.19.1")
    assert removed == [f"{ROOT}/1.17.0"]


def test_pruning_without_a_previous_release_keeps_the_newest_other() -> None:
    found = _found(("1.17.0", 1), ("1.18.0", 2))
    assert qdrant_releases_to_prune(found, 2, f"{ROOT}/1.19.1") == [f"{ROOT}/1.17.0"]


def test_the_filters_are_registered_by_name() -> None:
    assert set(FilterModule().filters()) == {
        "qdrant_upgrade_path",
        "qdrant_linked_version",
        "qdrant_releases_to_prune",
    }
