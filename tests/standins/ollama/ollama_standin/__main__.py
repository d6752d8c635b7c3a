"""Run the Ollama stand-in: ``python -m ollama_standin --port 11434``."""

from __future__ import annotations

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
