"""Make "release B" of a wheelhouse archive for the lifecycle scenario (tests only).

Release B is release A's archive with the same code under a bumped version and one dependency
pin changed, which is what a real next release looks like to the hosts: a new shield-rag
version (so a new release directory) and a different installed package set (so ``pip freeze``
tells A and B apart)::

    python -m tests.support.release_b A.tar.gz B.tar.gz --version 0.1.1 \\
        --pin certifi==2026.7.22 --cache ~/.cache/shield-rag/wheels

The shield-rag wheel is rewritten (the ``.dist-info`` directory, ``METADATA``'s version and
``RECORD``'s hashes), not rebuilt. The new pin's wheel is downloaded once into ``--cache``
(pip, from the package index; later runs are offline) and its hash replaces the old pin's in
``requirements.lock``. The same inputs give the same archive, byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def rewrite_wheel(wheel: bytes, old: str, new: str) -> tuple[str, bytes]:
    """shield-rag's wheel with version ``new`` in place of ``old``: (file name, bytes)."""
    src = zipfile.ZipFile(io.BytesIO(wheel))
    old_info, new_info = f"shield_rag-{old}.dist-info/", f"shield_rag-{new}.dist-info/"
    files: dict[str, bytes] = {}
    for name in src.namelist():
        data = src.read(name)
        if name.startswith(old_info):
            name = new_info + name[len(old_info) :]
        if name == new_info + "METADATA":
            data = re.sub(rb"(?m)^Version: .*$", f"Version: {new}".encode(), data, count=1)
        files[name] = data
    record_name = new_info + "RECORD"
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    for name, data in files.items():
        if name != record_name:
            writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([record_name, "", ""])
    files[record_name] = rows.getvalue().encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in files.items():
            dst.writestr(zipfile.ZipInfo(name, date_time=_EPOCH), data)
    return f"shield_rag-{new}-py3-none-any.whl", out.getvalue()


def fetch_pin(pin: str, cache: Path) -> Path:
    """The wheel of ``pin`` (name==version) from ``cache``, downloaded there when missing."""
    name, version = pin.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary=:all:", "--dest", str(cache), pin),
            ],
            check=True,
        )
        found = sorted(cache.glob(pattern))
    if not found:
        raise SystemExit(f"no wheel for {pin} in {cache}")
    return found[0]


def repin(lock: str, name: str, version: str, sha256: str) -> str:
    """``lock`` with the pin of ``name`` replaced by ``version`` and its one hash."""
    block = re.compile(
        rf"(?m)^{re.escape(name)}==\S+ \\\n(?:    --hash=sha256:[0-9a-f]+(?: \\)?\n)+"
    )
    if not block.search(lock):
        raise SystemExit(f"{name} is not pinned in requirements.lock")
    return block.sub(f"{name}=={version} \\\\\n    --hash=sha256:{sha256}\n", lock, count=1)


def make(archive_a: Path, archive_b: Path, version: str, pin: str, cache: Path) -> None:
    members: dict[str, bytes] = {}
    with tarfile.open(archive_a, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                members[member.name.removeprefix("./")] = handle.read()
    wheels = [n for n in members if n.startswith("shield_rag-") and n.endswith(".whl")]
    if len(wheels) != 1:
        raise SystemExit(f"{archive_a}: expected one shield-rag wheel, found {wheels}")
    old_version = wheels[0].split("-")[1]
    name, data = rewrite_wheel(members.pop(wheels[0]), old_version, version)
    members[name] = data
    pin_name, pin_version = pin.split("==")
    wheel = fetch_pin(pin, cache)
    members[wheel.name] = wheel.read_bytes()
    lock = members["requirements.lock"].decode()
    members["requirements.lock"] = repin(
        lock, pin_name, pin_version, hashlib.sha256(members[wheel.name]).hexdigest()
    ).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member_name in sorted(members):
            info = tarfile.TarInfo("./" + member_name)
            info.size, info.mode, info.mtime = len(members[member_name]), 0o644, 315532800
            tar.addfile(info, io.BytesIO(members[member_name]))
    archive_b.write_bytes(gzip.compress(raw.getvalue(), mtime=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("archive_a", type=Path)
    parser.add_argument("archive_b", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--pin", required=True, help="name==version of the changed dependency")
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args(argv)
    make(args.archive_a, args.archive_b, args.version, args.pin, args.cache)
    print(args.archive_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
