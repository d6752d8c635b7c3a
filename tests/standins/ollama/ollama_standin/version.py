"""The Ollama version the stand-in reports (tests only; it is not Ollama).

``release.py`` pins ``BAKED_VERSION`` in the archive's copy of this file;
``$SHIELD_OLLAMA_STANDIN_VERSION`` overrides both at run time.
"""

from __future__ import annotations

import os

DEFAULT_VERSION = "0.12.6"
BAKED_VERSION: str | None = None


def version() -> str:
    override = os.environ.get("SHIELD_OLLAMA_STANDIN_VERSION", "").strip()
    return override or BAKED_VERSION or DEFAULT_VERSION
