"""The Ollama STAND-IN's release archive: Ollama's layout, the same bytes for the same inputs,
and its ``bin/ollama`` runs as Ollama's executable does (``--version``, ``serve``)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import ollama
import pytest

from tests.standins.ollama.launch import start_ollama_serve
from tests.standins.ollama.release import ARCHIVE_NAME, build_release_archive

pytestmark = pytest.mark.integration

VERSION = "0.12.7"  # not the stand-in's default: only the archive's baked copy reports it


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("release")
    archive = build_release_archive(root / "dist", version=VERSION, interpreter=sys.executable)
    prefix = root / "usr"
    prefix.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(prefix, filter="data")
    return prefix


def _version_run(ollama_bin: Path, host: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "OLLAMA_HOST": host}
    return subprocess.run(
        [str(ollama_bin), "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _cli(
    prefix: Path, url: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "OLLAMA_HOST": url}
    run = subprocess.run(
        [str(prefix / "bin/ollama"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 or not check, run.stderr
    return run


def test_archive_has_ollamas_layout(tmp_path: Path) -> None:
    archive = build_release_archive(tmp_path)
    assert archive.name == ARCHIVE_NAME == "ollama-linux-amd64.tgz"
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {
            "bin",
            "bin/ollama",
            "lib",
            "lib/ollama",
            "lib/ollama/STANDIN-NOT-OLLAMA.txt",
        }
        assert members["bin/ollama"].isfile() and members["bin/ollama"].mode == 0o755
        assert members["lib/ollama"].isdir()
        ollama_bin = tar.extractfile("bin/ollama")
        assert ollama_bin is not None
        assert ollama_bin.read().startswith(b"#!/usr/bin/env python3\n")
        note = tar.extractfile("lib/ollama/STANDIN-NOT-OLLAMA.txt")
        assert note is not None and b"NOT Ollama" in note.read()


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = build_release_archive(tmp_path / "a", interpreter="/opt/py/bin/python").read_bytes()
    again = build_release_archive(tmp_path / "b", interpreter="/opt/py/bin/python").read_bytes()
    other = build_release_archive(tmp_path / "c", interpreter="/usr/bin/python3").read_bytes()
    pinned = build_release_archive(tmp_path / "d", version="9.9.9").read_bytes()
    assert first == again
    assert first != other
    assert pinned != build_release_archive(tmp_path / "e").read_bytes()


def test_cli_prints_the_archive_and_its_sha256(tmp_path: Path) -> None:
    module = "tests.standins.ollama.release"
    out = subprocess.run(
        [sys.executable, "-m", module, str(tmp_path), "--version", "1.2.3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    archive = tmp_path / ARCHIVE_NAME
    assert out == [str(archive), hashlib.sha256(archive.read_bytes()).hexdigest()]


def test_version_without_a_server_warns_like_ollama(unpacked: Path) -> None:
    run = _version_run(unpacked / "bin/ollama", "127.0.0.1:9")  # nothing listens on port 9
    assert run.returncode == 0, run.stderr
    assert "could not connect to a running Ollama instance" in run.stderr
    assert f"client version is {VERSION}" in run.stderr


def test_bin_ollama_serve_runs_from_the_environment(unpacked: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    proc, url = start_ollama_serve(
        tmp_path,
        {"OLLAMA_MODELS": str(models), "OLLAMA_KEEP_ALIVE": "-1"},
        executable=unpacked / "bin/ollama",
        name="bin-ollama-serve",
    )
    try:
        client = ollama.Client(host=url)
        assert client.list().models == []
        assert client.pull("all-minilm").status == "success"
        assert client.embed(model="all-minilm", input="from the archive").embeddings
        assert [m.model for m in client.ps().models] == ["all-minilm:latest"]
        run = _version_run(unpacked / "bin/ollama", url.removeprefix("http://"))
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == f"ollama version is {VERSION}"
        assert _cli(unpacked, url, "pull", "nomic-embed-text").stderr.endswith("success\n")
        listed = _cli(unpacked, url, "list").stdout.splitlines()
        assert listed[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
        assert sorted(line.split()[0] for line in listed[1:]) == [
            "all-minilm:latest",
            "nomic-embed-text:latest",
        ]
        removed = _cli(unpacked, url, "rm", "nomic-embed-text").stdout
        assert removed == "deleted 'nomic-embed-text'\n"
        missing = _cli(unpacked, url, "pull", "no-such-model", check=False)
        assert missing.returncode == 1
        assert missing.stderr.endswith("Error: pull model manifest: file does not exist\n")
    finally:
        assert proc.stop() == 0
    assert (models / "manifests/registry.ollama.ai/library/all-minilm/latest").is_file()
    assert f"Listening on 127.0.0.1:{url.rsplit(':', 1)[1]} (version {VERSION})" in (
        proc.log_path.read_text()
    )
