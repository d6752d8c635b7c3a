"""Build a "Qdrant release archive" whose ``qdrant`` executable is the stand-in.

Real releases (``qdrant-x86_64-unknown-linux-gnu.tar.gz``) hold one file, ``qdrant``. A role
test can hand this archive to the Qdrant role so that its real install/config/systemd/readiness
path runs unchanged. Its ``qdrant`` is the ``qdrant_standin`` package as one executable zip file
(a Python zip application: a shebang line, then the zip, which Python runs). The stand-in needs
a Python with qdrant-client, fastapi, uvicorn and PyYAML on the target: ``interpreter`` sets
the shebang to it.
"""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from pathlib import Path

from tests.standins.qdrant.launch import STANDIN_PACKAGE

DEFAULT_SHEBANG_INTERPRETER = "/usr/bin/env python3"
_VERSION_FILE = "version.py"
_VERSION_LINE = "BAKED_VERSION: str | None = None\n"
# The zip application's own __main__: the package's entry, run as the package's __main__.
_ZIP_MAIN = 'import runpy\n\nrunpy.run_module("qdrant_standin", run_name="__main__")\n'
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same sources give the same bytes


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
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    shebang = f"#!{interpreter or DEFAULT_SHEBANG_INTERPRETER}\n".encode()
    return shebang + buffer.getvalue()


def build_release_archive(
    dest_dir: Path,
    *,
    version: str | None = None,
    interpreter: str | None = None,
    arch: str = "x86_64",
) -> Path:
    """Write ``qdrant-<arch>-unknown-linux-gnu.tar.gz`` holding only ``qdrant`` (mode 0755)."""
    data = standin_executable(version, interpreter)
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / f"qdrant-{arch}-unknown-linux-gnu.tar.gz"
    info = tarfile.TarInfo("qdrant")
    info.size, info.mode, info.mtime = len(data), 0o755, int(time.time())
    info.uname = info.gname = "root"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(data))
    return archive
