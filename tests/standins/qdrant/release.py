"""Build a "Qdrant release archive" whose ``qdrant`` executable is the stand-in.

Real releases (``qdrant-x86_64-unknown-linux-gnu.tar.gz``) hold one file, ``qdrant``. A role
test can hand this archive to the Qdrant role so that its real install/config/systemd/readiness
path runs unchanged. Its ``qdrant`` is the ``qdrant_standin`` package as one executable zip file
(a Python zip application: a shebang line, then the zip, which Python runs). The stand-in needs
a Python with qdrant-client, fastapi, uvicorn and PyYAML on the target: ``interpreter`` sets
the shebang to it. The same inputs give the same bytes (tests/standins/zipapp.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.standins.qdrant.launch import STANDIN_PACKAGE
from tests.standins.zipapp import tar_member, write_tgz, zip_executable


def standin_executable(version: str | None = None, interpreter: str | None = None) -> bytes:
    """The stand-in as one executable file: ``#!<interpreter>`` and the zip application."""
    return zip_executable(STANDIN_PACKAGE, version, interpreter)


def build_release_archive(
    dest_dir: Path,
    *,
    version: str | None = None,
    interpreter: str | None = None,
    arch: str = "x86_64",
) -> Path:
    """Write ``qdrant-<arch>-unknown-linux-gnu.tar.gz`` holding only ``qdrant`` (mode 0755)."""
    return write_tgz(
        dest_dir / f"qdrant-{arch}-unknown-linux-gnu.tar.gz",
        [tar_member("qdrant", 0o755, standin_executable(version, interpreter))],
    )
