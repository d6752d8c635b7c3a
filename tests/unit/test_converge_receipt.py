"""Converge receipts: shield.rag.converge_receipt (its module and its action plugin) with the
``record`` option of shield.rag.drift and shield.rag.files.

A receipt lets site.yml leave a host alone, so what matters is that it is never wrong the
other way: the host is "in sync" only when the inputs have the digest the receipt was
committed with and the host is still in the recorded state; a secret never reaches it; a run
that is not a full one, or one in check mode, never begins or keeps one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.modules import Modules, service_files

SECRET = "s3cret-Receipt-Never-Kept-7Hd"
DIGEST = "a" * 64


def state(root: Path) -> dict:
    return service_files(root, SECRET)


def receipt(modules: Modules, where: Path, state_name: str, **args: object) -> dict:
    return modules.run("converge_receipt", dict(args, state=state_name, path=str(where)))


@pytest.fixture
def recorded(modules: Modules, tmp_path: Path) -> tuple[Path, Path]:
    """A full run's receipt: begun, the state written by files and read by drift, committed."""
    root, where = tmp_path / "root", tmp_path / "receipt"
    begun = receipt(modules, where, "begun", digest=DIGEST)
    assert begun["pending"] == str(where / "pending.json"), begun
    written = modules.run("files", dict(state(root), record=begun["pending"]))
    assert written["changed"] is True, written
    read = modules.run("drift", dict(state(root), record=begun["pending"]))
    assert read["in_sync"] is True, read
    committed = receipt(modules, where, "committed", digest=DIGEST)
    assert committed["committed"] is True, committed
    assert not (where / "pending.json").exists()
    return root, where


def test_no_receipt_is_not_in_sync(modules: Modules, tmp_path: Path) -> None:
    result = receipt(modules, tmp_path, "checked", digest=DIGEST)
    assert result["in_sync"] is False
    assert result["reason"] == f"no converge receipt in {tmp_path}"
    assert result["changed"] is False


def test_a_committed_receipt_is_in_sync_with_its_digest_only(
    modules: Modules, recorded: tuple[Path, Path]
) -> None:
    _root, where = recorded
    assert receipt(modules, where, "checked", digest=DIGEST)["in_sync"] is True
    other = receipt(modules, where, "checked", digest="b" * 64)
    assert other["in_sync"] is False
    assert other["reason"] == "the inputs changed since the last full converge"
    stale = receipt(modules, where, "checked", digest=DIGEST, max_age_hours=0)
    assert stale["in_sync"] is False
    assert stale["reason"] == "the last full converge is older than 0 hours"


def test_the_receipt_keeps_hashes_root_only_and_no_secret(recorded: tuple[Path, Path]) -> None:
    _root, where = recorded
    path = where / "receipt.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert SECRET not in text and "a: 1" not in text
    record = json.loads(text)["record"]
    names = [f["dest"].rsplit("/", 1)[1] for f in record["files"]]
    assert names == ["app.env", "app.yml", "app.service"]
    assert all(len(f["sha256"]) == 64 for f in record["files"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("content", "app.yml: content differs"),
        ("mode", "app.yml: mode is 0666, not 0640"),
        ("missing", "app.env: missing"),
        ("directory", "etc: mode is 0777, not 0750"),
    ],
)
def test_a_change_on_the_host_is_named(
    modules: Modules, recorded: tuple[Path, Path], change: str, expected: str
) -> None:
    root, where = recorded
    if change == "content":
        (root / "etc" / "app.yml").write_text("a: 2\n")
    elif change == "mode":
        (root / "etc" / "app.yml").chmod(0o666)
    elif change == "missing":
        (root / "etc" / "app.env").unlink()
    else:
        (root / "etc").chmod(0o777)
    result = receipt(modules, where, "checked", digest=DIGEST)
    assert result["in_sync"] is False
    assert result["reason"] == "the host changed since the last full converge"
    assert any(line.endswith(expected) for line in result["drift"]), result["drift"]


def test_check_mode_and_absent(modules: Modules, recorded: tuple[Path, Path]) -> None:
    _root, where = recorded
    dry = modules.run(
        "converge_receipt", {"state": "begun", "digest": "c" * 64, "path": str(where)}, check=True
    )
    assert dry["pending"] == "" and not (where / "pending.json").exists()
    assert receipt(modules, where, "checked", digest=DIGEST)["in_sync"] is True
    receipt(modules, where, "absent")
    assert sorted(os.listdir(where)) == []
    assert receipt(modules, where, "checked", digest=DIGEST)["in_sync"] is False


def test_a_commit_of_another_run_commits_nothing(
    modules: Modules, recorded: tuple[Path, Path]
) -> None:
    _root, where = recorded
    receipt(modules, where, "begun", digest="d" * 64)
    assert not (where / "receipt.json").exists()  # a begun run forgets the old receipt
    refused = receipt(modules, where, "committed", digest=DIGEST)
    assert refused["committed"] is False
    assert refused["reason"] == f"no pending receipt of this run in {where}"


# -- the action plugin: the digest of the inputs, and partial runs --------------------------

PLAY = """
- name: Read the receipt
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Compare
      shield.rag.converge_receipt:
        state: checked
        path: "{{ receipt_dir }}"
      register: checked
    - name: Begin
      shield.rag.converge_receipt:
        state: begun
        digest: "{{ checked.digest }}"
        path: "{{ receipt_dir }}"
      register: begun
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'checked': checked, 'begun': begun} | to_json }}"
        dest: "{{ playbook_dir }}/result.json"
        mode: "0600"
"""


def run_play(modules: Modules, tmp_path: Path, host_vars: dict | None = None, *args: str) -> dict:
    result_file = modules.workdir / "result.json"  # the play's directory
    result_file.unlink(missing_ok=True)
    variables = {"receipt_dir": str(tmp_path / "receipt")}
    rc, output = modules.playbook(PLAY, dict(variables, **(host_vars or {})), args=args)
    assert rc == 0, output
    return dict(json.loads(result_file.read_text()))


def test_the_digest_follows_the_variables_and_the_files_they_name(
    modules: Modules, tmp_path: Path
) -> None:
    certificate = tmp_path / "tls" / "edge.pem"
    certificate.parent.mkdir()
    certificate.write_text("one\n")
    host_vars = {"edge_tls_certificate_path": str(certificate)}
    first = run_play(modules, tmp_path, host_vars)["checked"]["digest"]
    assert len(first) == 64
    assert run_play(modules, tmp_path, host_vars)["checked"]["digest"] == first
    certificate.write_text("one\n")  # the same bytes again: the same input
    assert run_play(modules, tmp_path, host_vars)["checked"]["digest"] == first
    certificate.write_text("two\n")
    renewed = run_play(modules, tmp_path, host_vars)["checked"]["digest"]
    assert renewed != first
    other = run_play(modules, tmp_path, dict(host_vars, shield_log_level="debug"))
    assert other["checked"]["digest"] not in (first, renewed)


def test_a_partial_run_neither_uses_nor_keeps_a_receipt(modules: Modules, tmp_path: Path) -> None:
    full = run_play(modules, tmp_path)
    assert full["begun"]["pending"] == str(tmp_path / "receipt" / "pending.json")
    tagged = run_play(modules, tmp_path, None, "--tags", "all,shield_only")
    assert tagged["checked"]["in_sync"] is False
    assert tagged["checked"]["reason"].startswith("not a full run (--tags ")
    assert tagged["begun"]["pending"] == ""
    assert os.listdir(tmp_path / "receipt") == []
