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
import hashlib
import sys
from pathlib import Path

from tests.standins.ollama.launch import STANDIN_DIR
from tests.standins.zipapp import tar_member, write_tgz, zip_executable

STANDIN_PACKAGE = STANDIN_DIR / "ollama_standin"
ARCHIVE_NAME = "ollama-linux-amd64.tgz"
NOTE = """\
This is NOT Ollama. It is the Shield RAG test suite's Ollama stand-in
(tests/standins/ollama): bin/ollama speaks Ollama's HTTP API with a deterministic
embedder and answerer and runs no model. Real releases keep GPU runner libraries here.
"""


def standin_executable(version: str | None = None, interpreter: str | None = None) -> bytes:
    """The stand-in as one executable file: ``#!<interpreter>`` and the zip application."""
    return zip_executable(STANDIN_PACKAGE, version, interpreter)


def build_release_archive(
    dest_dir: Path, *, version: str | None = None, interpreter: str | None = None
) -> Path:
    """Write ``ollama-linux-amd64.tgz``: ``bin/ollama`` (mode 0755) and ``lib/ollama/``."""
    return write_tgz(
        dest_dir / ARCHIVE_NAME,
        [
            tar_member("bin", 0o755),
            tar_member("bin/ollama", 0o755, standin_executable(version, interpreter)),
            tar_member("lib", 0o755),
            tar_member("lib/ollama", 0o755),
            tar_member("lib/ollama/STANDIN-NOT-OLLAMA.txt", 0o644, NOTE.encode()),
        ],
    )


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
