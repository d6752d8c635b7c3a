"""Build a "Qdrant release archive" whose ``qdrant`` executable is the stand-in.

Real releases (``qdrant-x86_64-unknown-linux-gnu.tar.gz``) hold one file, ``qdrant``. A role
test can hand this archive to the Qdrant role so that its real install/config/systemd/readiness
path runs unchanged. The stand-in needs a Python with qdrant-client, fastapi, uvicorn and
PyYAML on the target: ``interpreter`` sets the shebang to it.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from tests.standins.qdrant.launch import STANDIN_SCRIPT

DEFAULT_SHEBANG_INTERPRETER = "/usr/bin/env python3"
_SHEBANG = "#!/usr/bin/env python3\n"
_VERSION_LINE = "BAKED_VERSION: str | None = None\n"


def standin_executable_text(version: str | None = None, interpreter: str | None = None) -> str:
    """The stand-in script with its shebang and reported version pinned."""
    text = STANDIN_SCRIPT.read_text(encoding="utf-8")
    if not text.startswith(_SHEBANG) or _VERSION_LINE not in text:
        raise RuntimeError(f"{STANDIN_SCRIPT}: shebang or BAKED_VERSION line changed")
    if interpreter:
        text = f"#!{interpreter}\n" + text[len(_SHEBANG) :]
    if version:
        text = text.replace(_VERSION_LINE, f"BAKED_VERSION: str | None = {version!r}\n", 1)
    return text


def build_release_archive(
    dest_dir: Path,
    *,
    version: str | None = None,
    interpreter: str | None = None,
    arch: str = "x86_64",
) -> Path:
    """Write ``qdrant-<arch>-unknown-linux-gnu.tar.gz`` holding only ``qdrant`` (mode 0755)."""
    data = standin_executable_text(version, interpreter).encode("utf-8")
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / f"qdrant-{arch}-unknown-linux-gnu.tar.gz"
    info = tarfile.TarInfo("qdrant")
    info.size, info.mode, info.mtime = len(data), 0o755, int(time.time())
    info.uname = info.gname = "root"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(data))
    return archive
