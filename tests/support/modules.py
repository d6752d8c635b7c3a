"""Running the collection's modules (plugins/modules) in a test, as Ansible runs them on a host.

`Modules.run` executes a module's file with its arguments on standard input, as AnsibleModule
reads them outside of a play, and returns the JSON it printed. The module's imports of
``ansible_collections.shield.rag.plugins.module_utils`` resolve to this checkout, as AnsiballZ
resolves them: the runner's collections path holds the checkout as shield.rag.

`Modules.adhoc` runs a module through ``ansible localhost -m shield.rag.NAME`` with the same
collections path: Ansible finds the module, packs it with the module_utils it imports and runs
it, as in a play.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def service_files(root: Path, secret: str) -> dict:
    """A service's files as shield.rag.files and shield.rag.drift take them, below ``root``:
    its directory, its environment file holding ``secret``, its settings and its unit."""
    me = pwd.getpwuid(os.getuid()).pw_name
    return {
        "directories": [{"path": str(root / "etc"), "owner": me, "mode": "0750"}],
        "secret_files": [
            {"dest": str(root / "etc" / "app.env"), "content": f"KEY={secret}\n", "mode": "0600"}
        ],
        "files": [
            {"dest": str(root / "etc" / "app.yml"), "content": "a: 1\n", "mode": "0640"},
            {"dest": str(root / "etc" / "app.service"), "content": "[Unit]\n", "mode": "0644"},
        ],
    }


def link_collection(collections: Path) -> Path:
    """Make `collections` a collections path (ANSIBLE_COLLECTIONS_PATH) whose shield.rag is this
    checkout; returns it."""
    namespace = collections / "ansible_collections" / "shield"
    namespace.mkdir(parents=True, exist_ok=True)
    if not (namespace / "rag").exists():
        (namespace / "rag").symlink_to(ROOT)
    return collections


class Modules:
    """The modules of this checkout, run with `workdir` (a directory of the caller's own) for
    the collections path and Ansible's own files."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.collections = link_collection(workdir / "collections")

    def run(
        self,
        name: str,
        args: dict,
        *,
        check: bool = False,
        diff: bool = False,
        env: dict[str, str] | None = None,
    ) -> dict:
        """The result module `name` printed for `args`, with the whole output as `_stdout`.

        env: the module's environment (this process's when None); the collections path is put
        first on its PYTHONPATH.
        """
        params = dict(args, _ansible_check_mode=check, _ansible_diff=diff, _ansible_no_log=False)
        environ = dict(os.environ if env is None else env)
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.collections), environ.get("PYTHONPATH")) if p
        )
        proc = subprocess.run(
            [sys.executable, str(ROOT / "plugins" / "modules" / f"{name}.py")],
            input=json.dumps({"ANSIBLE_MODULE_ARGS": params}),
            capture_output=True,
            text=True,
            timeout=60,
            env=environ,
            check=False,
        )
        assert proc.stdout, proc.stderr
        result = json.loads(proc.stdout)
        result["_stdout"] = proc.stdout
        return result

    def _ansible_environ(self, **extra: str) -> dict[str, str]:
        """This process's environment for an Ansible command: this checkout as shield.rag,
        Ansible's own files below the work directory, no ansible.cfg of the caller's."""
        home = self.workdir / "ansible-home"
        environ = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_HOME": str(home),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(home / "remote-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            **extra,
        }
        environ.pop("ANSIBLE_CONFIG", None)
        return environ

    def adhoc(self, name: str, args: dict, *, check: bool = False) -> dict:
        """The result of ``ansible localhost -m shield.rag.<name>`` for `args` (local
        connection, this Python on the "host"), with Ansible's whole output as `_stdout`."""
        environ = self._ansible_environ(
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"
        )
        command = [
            str(Path(sys.executable).with_name("ansible")),
            "localhost",
            "--connection=local",
            f"--extra-vars=ansible_python_interpreter={sys.executable}",
            f"--module-name=shield.rag.{name}",
            f"--args={json.dumps(args)}",
        ]
        proc = subprocess.run(
            command + (["--check"] if check else []),
            capture_output=True,
            text=True,
            timeout=120,
            env=environ,
            cwd=self.workdir,
            check=False,
        )
        assert proc.stdout.startswith("{"), proc.stdout + proc.stderr
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        result["_stdout"] = proc.stdout
        return dict(result)

    def playbook(
        self,
        play: str,
        host_vars: dict,
        *,
        check: bool = False,
        extra_vars: dict | None = None,
        args: tuple[str, ...] = (),
    ) -> tuple[int, str]:
        """``ansible-playbook`` of the YAML text `play` on the one host ``localhost`` (local
        connection, this Python, `host_vars` as its inventory variables, `args` on its command
        line): its exit code and its whole output (stdout then stderr)."""
        inventory = self.workdir / "inventory.yml"
        playbook = self.workdir / "play.yml"
        hostvars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            **host_vars,
        }
        inventory.write_text(
            json.dumps({"all": {"hosts": {"localhost": hostvars}}}), encoding="utf-8"
        )
        playbook.write_text(play, encoding="utf-8")
        environ = self._ansible_environ(ANSIBLE_RETRY_FILES_ENABLED="0")
        command = [str(Path(sys.executable).with_name("ansible-playbook"))]
        command += ["-i", str(inventory), str(playbook)]
        if extra_vars:
            command.append(f"--extra-vars={json.dumps(extra_vars)}")
        if check:
            command.append("--check")
        command += args
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            env=environ,
            cwd=self.workdir,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr


class Endpoint(BaseHTTPRequestHandler):
    """A request handler for :func:`serving`: subclasses answer with :meth:`answer`; nothing
    is logged."""

    def answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 (an ephemeral port) answering with ``handler``, for
    the modules that ask endpoints from the host; yields its base URL, then stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
