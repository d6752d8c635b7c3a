"""The shield.rag.files module (plugins/modules/files.py), run as Ansible runs it.

Each case executes the module file with a JSON arguments file (how AnsibleModule reads its
parameters outside of a play) against a temporary directory of the test's own, and reads the
JSON it prints: what changed, what a diff shows, what a check run leaves behind, how a failed
validation leaves the old file, and that a secret's content never appears in its output.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.modules import Modules

SECRET = "s3cret-Value-Never-Printed-7Qz"

RunModule = Callable[..., dict]


@pytest.fixture
def run_module(modules: Modules) -> RunModule:
    """Runs shield.rag.files: run_module(args, check=False, diff=False)."""
    return functools.partial(modules.run, "files")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def base_args(root: Path) -> dict:
    return {
        "directories": [{"path": str(root / "etc"), "mode": "0750"}],
        "secret_files": [
            {"dest": str(root / "etc" / "app.env"), "content": f"KEY={SECRET}\n", "mode": "0600"}
        ],
        "files": [
            {"dest": str(root / "etc" / "app.yml"), "content": "a: 1\n", "mode": "0640"},
            {"dest": str(root / "etc" / "unit.conf"), "content": "[Service]\n", "mode": "0644"},
        ],
    }


def test_first_run_creates_everything_and_the_second_changes_nothing(
    run_module: RunModule, root: Path
) -> None:
    first = run_module(base_args(root))
    etc = root / "etc"
    assert first["changed"] is True
    assert first["changed_paths"] == [
        str(etc),
        str(etc / "app.env"),
        str(etc / "app.yml"),
        str(etc / "unit.conf"),
    ]
    assert first["created_paths"] == first["changed_paths"]
    assert (etc / "app.yml").read_text() == "a: 1\n"
    assert (mode(etc), mode(etc / "app.env"), mode(etc / "app.yml"), mode(etc / "unit.conf")) == (
        0o750,
        0o600,
        0o640,
        0o644,
    )

    second = run_module(base_args(root))
    assert second["changed"] is False
    assert second["changed_paths"] == []
    assert second["created_paths"] == []


def test_only_the_changed_file_is_replaced_and_the_diff_shows_it(
    run_module: RunModule, root: Path
) -> None:
    run_module(base_args(root))
    args = base_args(root)
    args["files"][0]["content"] = "a: 2\n"
    before_inode = (root / "etc" / "unit.conf").stat().st_ino
    result = run_module(args, diff=True)
    assert result["changed_paths"] == [str(root / "etc" / "app.yml")]
    assert (root / "etc" / "app.yml").read_text() == "a: 2\n"
    assert (root / "etc" / "unit.conf").stat().st_ino == before_inode
    content_diffs = [d for d in result["diff"] if isinstance(d.get("after"), str)]
    assert content_diffs == [
        {
            "before_header": str(root / "etc" / "app.yml"),
            "after_header": str(root / "etc" / "app.yml"),
            "before": "a: 1\n",
            "after": "a: 2\n",
        }
    ]


def test_a_mode_change_alone_is_a_change(run_module: RunModule, root: Path) -> None:
    run_module(base_args(root))
    args = base_args(root)
    args["files"][1]["mode"] = "0600"
    result = run_module(args, diff=True)
    assert result["changed_paths"] == [str(root / "etc" / "unit.conf")]
    assert mode(root / "etc" / "unit.conf") == 0o600
    assert (root / "etc" / "unit.conf").read_text() == "[Service]\n"


def test_check_mode_reports_and_writes_nothing(run_module: RunModule, root: Path) -> None:
    result = run_module(base_args(root), check=True, diff=True)
    assert result["changed"] is True
    assert str(root / "etc" / "app.yml") in result["changed_paths"]
    assert not root.exists()

    run_module(base_args(root))
    args = base_args(root)
    args["files"][0]["content"] = "a: 3\n"
    args["directories"][0]["mode"] = "0755"
    result = run_module(args, check=True)
    assert result["changed_paths"] == [str(root / "etc"), str(root / "etc" / "app.yml")]
    assert (root / "etc" / "app.yml").read_text() == "a: 1\n"
    assert mode(root / "etc") == 0o750


def test_a_failed_validation_keeps_the_old_file_and_says_which(
    run_module: RunModule, root: Path
) -> None:
    run_module(base_args(root))
    args = base_args(root)
    checker = root.parent / "check.sh"
    checker.write_text(
        '#!/bin/sh\ngrep -q "^a: [0-9]*$" "$1" || { echo "not a number in $1" >&2; exit 3; }\n'
    )
    checker.chmod(0o755)
    args["files"][0].update(content="a: many\n", validate=f"{checker} %s")
    result = run_module(args)
    assert result.get("failed") is True
    assert str(root / "etc" / "app.yml") in result["msg"] and "was not replaced" in result["msg"]
    assert result["rc"] == 3 and "not a number" in result["stderr"]
    assert (root / "etc" / "app.yml").read_text() == "a: 1\n"
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["app.env", "app.yml", "unit.conf"]

    args["files"][0]["content"] = "a: 7\n"
    result = run_module(args)
    assert result["changed_paths"] == [str(root / "etc" / "app.yml")]
    assert (root / "etc" / "app.yml").read_text() == "a: 7\n"


def test_the_checker_sees_the_new_content_with_the_final_mode(
    run_module: RunModule, root: Path
) -> None:
    run_module(base_args(root))
    seen = root.parent / "seen"
    args = base_args(root)
    args["files"][0].update(
        content="a: 5\n", validate=f"sh -c 'stat -c %a %s > {seen}; cat %s >> {seen}'"
    )
    # %s appears three times: every one is the temporary file.
    result = run_module(args)
    assert result["changed"] is True
    assert seen.read_text() == "640\na: 5\n"


def test_a_secret_is_never_in_the_output(run_module: RunModule, root: Path) -> None:
    for check in (True, False):
        result = run_module(base_args(root), check=check, diff=True)
        assert SECRET not in result["_stdout"]
    args = base_args(root)
    args["secret_files"][0]["content"] = f"KEY={SECRET}-rotated\n"
    result = run_module(args, diff=True)
    assert result["changed_paths"] == [str(root / "etc" / "app.env")]
    assert SECRET not in result["_stdout"]
    assert all(not isinstance(d.get("after"), str) for d in result["diff"])
    assert mode(root / "etc" / "app.env") == 0o600


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a, r: a["files"][0].update(dest="etc/app.yml"), "is not an absolute path"),
        (
            lambda a, r: a["files"][0].update(dest=str(r / "missing" / "app.yml")),
            "does not exist: create it first",
        ),
        (lambda a, r: a["files"][0].update(validate="true"), "must contain %s"),
    ],
    ids=["relative", "no-directory", "validate-without-placeholder"],
)
def test_bad_arguments_get_a_clear_error(
    run_module: RunModule, root: Path, mutate, message: str
) -> None:
    args = base_args(root)
    mutate(args, root)
    result = run_module(args)
    assert result.get("failed") is True
    assert message in result["msg"]


def test_a_directory_in_place_of_a_file_is_refused(run_module: RunModule, root: Path) -> None:
    (root / "etc" / "app.yml").mkdir(parents=True)
    result = run_module(base_args(root))
    assert result.get("failed") is True
    assert "is a directory, not a file" in result["msg"]
    assert os.path.isdir(root / "etc" / "app.yml")


def test_check_mode_checks_the_new_content_and_writes_nothing(
    run_module: RunModule, root: Path
) -> None:
    run_module(base_args(root))
    checker = root.parent / "check.sh"
    checker.write_text(
        '#!/bin/sh\ngrep -q "^a: [0-9]*$" "$1" || { echo "not a number in $1" >&2; exit 3; }\n'
    )
    checker.chmod(0o755)
    args = base_args(root)
    args["files"][0].update(content="a: many\n", validate=f"{checker} %s")
    result = run_module(args, check=True)
    assert result.get("failed") is True, result
    assert str(root / "etc" / "app.yml") in result["msg"] and "not a number" in result["stderr"]
    args["files"][0]["content"] = "a: 8\n"
    result = run_module(args, check=True)
    assert result["changed_paths"] == [str(root / "etc" / "app.yml")], result
    assert (root / "etc" / "app.yml").read_text() == "a: 1\n"
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["app.env", "app.yml", "unit.conf"]


def test_check_mode_warns_when_the_checker_is_not_installed_yet(
    run_module: RunModule, root: Path
) -> None:
    args = base_args(root)
    args["files"][0]["validate"] = f"{root}/venv/bin/shield-check-config %s"
    result = run_module(args, check=True)
    assert result["changed"] is True and not result.get("failed"), result
    warnings = json.dumps(result["warnings"])  # ansible-core 2.19: structured warnings
    assert "was not checked" in warnings and "shield-check-config is not" in warnings, warnings
    assert not root.exists()
