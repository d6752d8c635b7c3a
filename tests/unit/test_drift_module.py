"""The shield.rag.drift module (plugins/modules/drift.py), run as Ansible runs it.

The roles converge a service only when this module finds a difference, so what matters is that
it agrees with shield.rag.files (what that module leaves is in sync, anything it would change
is drift) and that it sees each kind of drift a person can cause by hand: content, mode,
owner, a missing file or directory, an account changed, a unit stopped or disabled.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.modules import Endpoint, Modules, service_files, serving
from tests.support.procs import free_port

SECRET = "s3cret-Drift-Never-Printed-4Kp"
KEY = "k3y-Drift-Never-Printed-8Qw"


def state(root: Path) -> dict:
    return service_files(root, SECRET)


@pytest.fixture
def converged(modules: Modules, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    written = modules.run("files", state(root))
    assert written["changed"] is True, written
    return root


def test_what_files_leaves_is_in_sync_and_a_missing_state_is_all_drift(
    modules: Modules, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    before = modules.run("drift", state(root))
    assert before["in_sync"] is False
    assert before["changed"] is False
    assert before["drift"] == [f"{root / 'etc'}: missing"] + [
        f"{root / 'etc' / name}: missing" for name in ("app.env", "app.yml", "app.service")
    ]
    assert not (root / "etc").exists(), "drift must not create anything"

    assert modules.run("files", state(root))["changed"] is True
    after = modules.run("drift", state(root))
    assert (after["in_sync"], after["drift"]) == (True, [])


def test_each_hand_made_change_is_drift_named_by_path(modules: Modules, converged: Path) -> None:
    etc = converged / "etc"
    (etc / "app.yml").write_text("a: 2\n")
    os.chmod(etc / "app.env", 0o644)
    os.chmod(etc, 0o755)
    (etc / "app.service").unlink()
    result = modules.run("drift", state(converged))
    assert result["in_sync"] is False
    assert result["drift"] == [
        f"{etc}: mode is 0755, not 0750",
        f"{etc / 'app.env'}: mode is 0644, not 0600",
        f"{etc / 'app.yml'}: content differs",
        f"{etc / 'app.service'}: missing",
    ]
    # What drift reports, files repairs; then they agree again.
    assert modules.run("files", state(converged))["changed"] is True
    assert modules.run("drift", state(converged))["in_sync"] is True


def test_another_owner_or_a_directory_in_place_of_a_file_is_drift(
    modules: Modules, converged: Path
) -> None:
    etc = converged / "etc"
    args = state(converged)
    args["files"][0]["owner"] = "54321"  # a uid nothing on the machine has
    (etc / "app.service").unlink()
    (etc / "app.service").mkdir()
    result = modules.run("drift", args)
    assert result["drift"] == [
        f"{etc / 'app.yml'}: owner is uid {os.getuid()}, not 54321",
        f"{etc / 'app.service'}: not a regular file",
    ]


def test_a_secret_file_content_never_appears_in_the_output(
    modules: Modules, converged: Path
) -> None:
    (converged / "etc" / "app.env").write_text("KEY=old\n")
    result = modules.run("drift", state(converged))
    assert result["drift"] == [f"{converged / 'etc' / 'app.env'}: content differs"]
    assert SECRET not in result["_stdout"]


def test_accounts_missing_or_different_are_drift(modules: Modules) -> None:
    me = pwd.getpwuid(os.getuid())
    missing = "shield-no-such-user-7f3"
    result = modules.run(
        "drift",
        {
            "accounts": [
                {"user": missing},
                {"user": me.pw_name, "home": me.pw_dir, "shell": me.pw_shell},
                {"user": me.pw_name, "home": "/nonexistent", "comment": "Shield RAG x"},
            ]
        },
    )
    assert result["drift"] == [
        f"user {missing}: missing",
        f"user {me.pw_name}: home is {me.pw_dir!r}, not '/nonexistent'",
        f"user {me.pw_name}: comment is {me.pw_gecos!r}, not 'Shield RAG x'",
    ]


def fake_systemctl(tmp_path: Path, answers: dict[str, tuple[str, str]]) -> dict[str, str]:
    """A systemctl on PATH that answers `show` for the units given, as systemd prints it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    blocks = {
        unit: f"Id={unit}\\nActiveState={active}\\nUnitFileState={enabled}\\n"
        for unit, (enabled, active) in answers.items()
    }
    script = bin_dir / "systemctl"
    cases = "".join(f"    {unit}) printf '{block}' ;;\n" for unit, block in blocks.items())
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = show ] || exit 2\n'
        "shift 3\n"  # show --property=... --
        "first=1\n"
        'for unit in "$@"; do\n'
        '  [ $first = 1 ] || printf "\\n"; first=0\n'
        '  case "$unit" in\n'
        f"{cases}"
        '    *) printf "Id=%s\\nActiveState=inactive\\nUnitFileState=\\n" "$unit" ;;\n'
        "  esac\n"
        "done\n"
    )
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_units_must_be_enabled_and_active(modules: Modules, tmp_path: Path) -> None:
    env = fake_systemctl(
        tmp_path,
        {
            "a.service": ("enabled", "active"),
            "b.service": ("disabled", "active"),
            "c@1.service": ("enabled", "failed"),
        },
    )
    units = ["a.service", "b.service", "c@1.service", "gone.service"]
    result = modules.run("drift", {"units": units}, env=env)
    assert result["drift"] == [
        "b.service: disabled and active, not enabled and active",
        "c@1.service: enabled and failed, not enabled and active",
        "gone.service: unknown and inactive, not enabled and active",
    ]
    assert modules.run("drift", {"units": ["a.service"]}, env=env)["in_sync"] is True


def test_a_mode_that_is_not_octal_is_refused_with_the_path(
    modules: Modules, converged: Path
) -> None:
    args = state(converged)
    args["files"][0]["mode"] = "u=rw"
    result = modules.run("drift", args)
    assert result.get("failed") is True
    path = converged / "etc" / "app.yml"
    assert result["msg"] == f"{path}: mode 'u=rw' is not an octal string such as '0640'"


def test_through_ansible_files_writes_what_drift_then_finds_in_sync(
    modules: Modules, tmp_path: Path
) -> None:
    """Ansible finds both modules in the collection and ships each with the module_utils it
    imports (AnsiballZ), as a play runs them."""
    root = tmp_path / "root"
    checked = modules.adhoc("files", state(root), check=True)
    assert (checked["changed"], checked["created_paths"]) == (True, checked["changed_paths"])
    assert len(checked["changed_paths"]) == 4, checked
    assert not root.exists()
    assert modules.adhoc("drift", state(root))["in_sync"] is False

    written = modules.adhoc("files", state(root))
    assert written["changed_paths"] == checked["changed_paths"]
    result = modules.adhoc("drift", state(root))
    assert (result["in_sync"], result["drift"], result["changed"]) == (True, [], False)
    for output in (checked, written, result):
        assert SECRET not in output["_stdout"]


class _Endpoints(Endpoint):
    """/ready answers 200 with "ok", /starting 503, anything else 404; records header k."""

    keys: list[str] = []

    def do_GET(self) -> None:
        _Endpoints.keys.append(self.headers.get("k", ""))
        status = {"/ready": 200, "/starting": 503}.get(self.path, 404)
        self.answer(status, b"ok" if status == 200 else b"")


@pytest.fixture
def endpoints() -> Iterator[str]:
    _Endpoints.keys = []
    with serving(_Endpoints) as url:
        yield url


def test_an_endpoint_that_does_not_answer_as_expected_is_drift(
    modules: Modules, endpoints: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on
    answers = [
        {"name": "ready", "url": f"{endpoints}/ready", "contains": "ok", "headers": {"k": KEY}},
        {"name": "starting", "url": f"{endpoints}/starting"},
        {"url": f"{endpoints}/ready", "contains": "elsewhere"},
        {"name": "down", "url": f"{closed}/readyz"},
    ]
    result = modules.run("drift", {"answers": answers})
    assert result["in_sync"] is False
    assert result["drift"] == [
        f"starting ({endpoints}/starting): does not answer: HTTP 503, expected 200",
        f"{endpoints}/ready ({endpoints}/ready): does not answer: no 'elsewhere' in the answer",
        f"down ({closed}/readyz): does not answer: [Errno 111] Connection refused",
    ]
    assert [(a["name"], a["answered"], a["status"]) for a in result["answers"]] == [
        ("ready", True, 200),
        ("starting", False, 503),
        (f"{endpoints}/ready", False, 200),
        ("down", False, -1),
    ]
    assert KEY in _Endpoints.keys  # sent, and never printed
    assert KEY not in result["_stdout"]
    in_sync = modules.run("drift", {"answers": answers[:1]})
    assert in_sync["in_sync"] is True, in_sync


def test_a_ca_bundle_not_written_yet_is_drift_and_the_http_answers_still_asked(
    modules: Modules, endpoints: str, tmp_path: Path
) -> None:
    """A new host: the service's CA bundle is one of the files still to write."""
    missing = tmp_path / "tls" / "ca-bundle.pem"
    answers = [{"name": "ready", "url": f"{endpoints}/ready", "contains": "ok"}]
    result = modules.run("drift", {"answers": answers, "ca_path": str(missing)})
    assert result["in_sync"] is False, result
    assert result["drift"] == [f"{missing}: missing, the https answers are not checked against it"]
    assert [(a["name"], a["answered"]) for a in result["answers"]] == [("ready", True)]


def test_an_answer_url_that_is_not_http_is_refused(modules: Modules) -> None:
    result = modules.run("drift", {"answers": [{"url": "file:///etc/passwd"}]})
    assert result.get("failed") is True
    assert result["msg"] == "answers: file:///etc/passwd is not an http or https URL"


def test_a_validate_command_is_accepted_and_not_run(modules: Modules, converged: Path) -> None:
    args = state(converged)
    marker = converged / "validated"
    args["files"][0]["validate"] = f"touch {marker} %s"
    assert modules.run("drift", args)["in_sync"] is True
    assert not marker.exists()


def test_links_missing_elsewhere_or_dangling_are_drift(modules: Modules, tmp_path: Path) -> None:
    target = tmp_path / "release" / "bin"
    target.parent.mkdir()
    target.write_text("#!/bin/sh\n")
    (tmp_path / "good").symlink_to(target)
    (tmp_path / "elsewhere").symlink_to(tmp_path / "release")
    (tmp_path / "plain").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    links = [
        {
            "dest": str(tmp_path / name),
            "src": str(target if name != "dangling" else tmp_path / "gone"),
        }
        for name in ("good", "elsewhere", "plain", "missing", "dangling")
    ]
    result = modules.run("drift", {"links": links})
    assert result["drift"] == [
        f"{tmp_path / 'elsewhere'}: links to {tmp_path / 'release'}, not {target}",
        f"{tmp_path / 'plain'}: not a symbolic link",
        f"{tmp_path / 'missing'}: missing",
        f"{tmp_path / 'dangling'}: links to {tmp_path / 'gone'}, which is missing",
    ]
    assert modules.run("drift", {"links": links[:1]})["in_sync"] is True
