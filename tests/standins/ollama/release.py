"""Build an "Ollama release archive" whose ``bin/ollama`` is the STAND-IN (tests only).

Real Linux releases (``ollama-linux-amd64.tgz``) hold ``bin/ollama`` and ``lib/ollama/`` (the
GPU runner libraries) and are unpacked into a prefix such as ``/usr``. A role test can hand this
archive to the Ollama role so that its real install/systemd/model-management path runs
unchanged: ``bin/ollama serve`` reads Ollama's environment, ``bin/ollama --version`` prints
Ollama's version line. ``bin/ollama`` is the ``ollama_standin`` package as one executable zip
file (a Python zip application: a shebang line, then the zip). It needs a Python with fastapi,
uvicorn and ollama on the target: ``interpreter`` sets the shebang to it. ``lib/ollama/`` holds
only a note saying what this is.

The same inputs give the same bytes (fixed member times and owners, no gzip time stamp).

``python -m tests.standins.ollama.release DEST [--interpreter PATH] [--version V]`` writes the
archive into DEST and prints its path and sha256.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.standins.ollama.launch import STANDIN_DIR

STANDIN_PACKAGE = STANDIN_DIR / "ollama_standin"
ARCHIVE_NAME = "ollama-linux-amd64.tgz"
DEFAULT_SHEBANG_INTERPRETER = "/usr/bin/env python3"
_VERSION_FILE = "version.py"
_VERSION_LINE = "BAKED_VERSION: str | None = None\n"
# The zip application's own __main__: the package's entry, run as the package's __main__.
_ZIP_MAIN = 'import runpy\n\nrunpy.run_module("ollama_standin", run_name="__main__")\n'
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800  # 1980-01-01T00:00:00Z: fixed member times, the same bytes every time
NOTE = """\
This is NOT Ollama. It is the Shield RAG test suite's Ollama stand-in
(tests/standins/ollama): bin/ollama speaks Ollama's HTTP API with a deterministic
embedder and answerer and runs no model. Real releases keep GPU runner libraries here.
"""


def standin_sources(version: str | None = None) -> dict[str, str]:
    """The package's modules by name in the zip, with the reported version pinned."""
    sources = {
        f"{STANDIN_PACKAGE.name}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(STANDIN_PACKAGE.glob("*.py"))
    }
    version_file = f"{STANDIN_PACKAGE.name}/{_VERSION_FILE}"
    if _VERSION_LINE not in sources[version_file]:
        raise RuntimeError(f"{STANDIN_PACKAGE / _VERSION_FILE}: the BAKED_VERSION line changed")
    if version:
        pinned = f"BAKED_VERSION: str | None = {version!r}\n"
        sources[version_file] = sources[version_file].replace(_VERSION_LINE, pinned, 1)
    return {"__main__.py": _ZIP_MAIN, **sources}


def standin_executable(version: str | None = None, interpreter: str | None = None) -> bytes:
    """The stand-in as one executable file: ``#!<interpreter>`` and the zip application."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in standin_sources(version).items():
            info = zipfile.ZipInfo(name, _ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text)
    shebang = f"#!{interpreter or DEFAULT_SHEBANG_INTERPRETER}\n".encode()
    return shebang + buffer.getvalue()


def _member(name: str, mode: int, data: bytes | None = None) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE if data is not None else tarfile.DIRTYPE
    info.mode, info.mtime, info.size = mode, _TAR_MTIME, len(data or b"")
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info, data or b""


def build_release_archive(
    dest_dir: Path, *, version: str | None = None, interpreter: str | None = None
) -> Path:
    """Write ``ollama-linux-amd64.tgz``: ``bin/ollama`` (mode 0755) and ``lib/ollama/``."""
    members = [
        _member("bin", 0o755),
        _member("bin/ollama", 0o755, standin_executable(version, interpreter)),
        _member("lib", 0o755),
        _member("lib/ollama", 0o755),
        _member("lib/ollama/STANDIN-NOT-OLLAMA.txt", 0o644, NOTE.encode()),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / ARCHIVE_NAME
    archive.write_bytes(packed.getvalue())
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the Ollama STAND-IN's release archive (tests only; not Ollama)"
    )
    parser.add_argument("dest", type=Path, help="directory to write the archive into")
    parser.add_argument("--interpreter", help="the shebang's Python (default: env python3)")
    parser.add_argument("--version", help="the Ollama version it reports")
    args = parser.parse_args(argv)
    archive = build_release_archive(args.dest, version=args.version, interpreter=args.interpreter)
    print(archive)
    print(hashlib.sha256(archive.read_bytes()).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
