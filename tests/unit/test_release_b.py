"""tests/support/release_b.py: release B of a wheelhouse, as the lifecycle scenario builds it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support import release_b

LOCK = (
    "anyio==4.6.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    "certifi==2026.10.19.post1 \\\n    --hash=sha256:" + "b" * 64 + " \\\n"
    "    --hash=sha256:" + "c" * 64 + "\n    # via httpx\n"
    "idna==3.20 \\\n    --hash=sha256:" + "d" * 64 + "\n"
)


def _wheel(version: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("shield_rag/__init__.py", "X = 1\n")
        info = f"shield_rag-{version}.dist-info/"
        z.writestr(
            info + "METADATA", f"Metadata-Version: 2.1\nName: shield-rag\nVersion: {version}\n"
        )
        z.writestr(info + "RECORD", "")
    return out.getvalue()


def _archive(path: Path) -> None:
    members = {
        "requirements.lock": LOCK.encode(),
        "shield_rag-0.1.0-py3-none-any.whl": _wheel("0.1.0"),
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {
            m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "certifi-2026.7.22-py3-none-any.whl").write_bytes(b"certifi wheel bytes")
    return cache


def test_release_b_has_the_new_version_and_pin_and_a_valid_record(
    tmp_path: Path, cache: Path
) -> None:
    _archive(tmp_path / "a.tar.gz")
    release_b.make(
        tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", "0.1.1", "certifi==2026.7.22", cache
    )
    members = _members(tmp_path / "b.tar.gz")
    assert "shield_rag-0.1.0-py3-none-any.whl" not in members
    wheel = zipfile.ZipFile(io.BytesIO(members["shield_rag-0.1.1-py3-none-any.whl"]))
    assert b"Version: 0.1.1\n" in wheel.read("shield_rag-0.1.1.dist-info/METADATA")
    for name, digest, size in csv.reader(
        io.StringIO(wheel.read("shield_rag-0.1.1.dist-info/RECORD").decode())
    ):
        if digest:
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)
    lock = members["requirements.lock"].decode()
    new_hash = hashlib.sha256(b"certifi wheel bytes").hexdigest()
    assert f"certifi==2026.7.22 \\\n    --hash=sha256:{new_hash}\n    # via httpx\n" in lock
    assert "2026.10.19" not in lock and "idna==3.20" in lock and "anyio==4.6.0" in lock

    release_b.make(
        tmp_path / "a.tar.gz", tmp_path / "b2.tar.gz", "0.1.1", "certifi==2026.7.22", cache
    )
    assert (tmp_path / "b.tar.gz").read_bytes() == (tmp_path / "b2.tar.gz").read_bytes()


def test_a_pin_not_in_the_lock_is_refused(tmp_path: Path, cache: Path) -> None:
    _archive(tmp_path / "a.tar.gz")
    (cache / "six-1.0-py3-none-any.whl").write_bytes(b"six")
    with pytest.raises(SystemExit, match="six is not pinned"):
        release_b.make(tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", "0.1.1", "six==1.0", cache)
