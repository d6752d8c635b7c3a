"""Who the stand-in says it is (name and version), and the check that its Python has
what it needs; standard library only, so ``--version`` answers before anything else loads."""

from __future__ import annotations

import os
import sys

STANDIN_NAME = "Qdrant stand-in (Shield RAG tests; NOT the real Qdrant server)"
# Release archives (release.py) may pin the reported version by rewriting this line.
BAKED_VERSION: str | None = None
_DEPENDENCIES = ("fastapi", "uvicorn", "yaml", "qdrant_client")


def ensure_dependencies() -> None:
    """Re-exec the executable (``bin/qdrant`` or a release's ``qdrant``: ``sys.argv[0]``) under
    $QDRANT_STANDIN_PYTHON when this interpreter lacks the dependencies."""
    missing = []
    for module in _DEPENDENCIES:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return
    alt = os.environ.get("QDRANT_STANDIN_PYTHON")
    if alt and not os.environ.get("_QDRANT_STANDIN_REEXEC"):
        os.environ["_QDRANT_STANDIN_REEXEC"] = "1"
        os.execv(alt, [alt, os.path.abspath(sys.argv[0]), *sys.argv[1:]])
    sys.stderr.write(
        f"{STANDIN_NAME}: {sys.executable} lacks {', '.join(missing)}; install qdrant-client, "
        "fastapi, uvicorn and PyYAML or set QDRANT_STANDIN_PYTHON to a Python that has them\n"
    )
    raise SystemExit(2)


def standin_version() -> str:
    """The Qdrant version reported: baked, from the environment, or matching the client."""
    from importlib import metadata

    if BAKED_VERSION:
        return BAKED_VERSION
    if os.environ.get("QDRANT_STANDIN_VERSION"):
        return os.environ["QDRANT_STANDIN_VERSION"]
    try:  # qdrant-client warns unless major matches and minor is within one of the server's
        major, minor, *_unused = metadata.version("qdrant-client").split(".")
        return f"{major}.{minor}.0"
    except (metadata.PackageNotFoundError, ValueError):
        return "1.20.0"
