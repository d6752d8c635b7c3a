"""``qdrant [--version | --config-path PATH]``: answer ``--version`` and check the interpreter
(standard library only), then import the server and run it."""

from __future__ import annotations

import sys

from .version import STANDIN_NAME, ensure_dependencies, standin_version


def run() -> None:
    if "--version" in sys.argv[1:]:
        print(f"qdrant {standin_version()}")
        print(STANDIN_NAME, file=sys.stderr)
        raise SystemExit(0)
    ensure_dependencies()
    from .server import main

    raise SystemExit(main())


if __name__ == "__main__":
    run()
