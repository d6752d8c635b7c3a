"""Start the Ollama stand-in for a test, or use a real Ollama named by the environment.

``SHIELD_TEST_OLLAMA_URL=http://127.0.0.1:11434`` makes every test that calls
:func:`start_ollama` use that (real) Ollama instead of starting the stand-in; it must have
the models the test asks for pulled already (``all-minilm`` and ``qwen2.5:0.5b`` by default).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.procs import PYTHON, ManagedProcess, free_port, http_ok
from tests.support.wait import wait_until

URL_ENV = "SHIELD_TEST_OLLAMA_URL"
# The stand-in is the package ollama_standin here, run as ``python -m ollama_standin`` from
# this directory (as tests/playbooks/standins.yml runs it on a host).
STANDIN_DIR = Path(__file__).resolve().parent


def start_ollama(
    tmp_dir: Path,
    *,
    embed_dim: int = 384,
    port: int | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> tuple[ManagedProcess | None, str]:
    """Return ``(process, base_url)``; ``process`` is None when a real Ollama is used.

    The stand-in listens on ``port`` (default: a free one) of 127.0.0.1 and logs to
    ``tmp_dir``/ollama-standin.log. The caller stops it with ``process.stop()``.
    """
    real = os.environ.get(URL_ENV, "").strip()
    if real:
        return None, real.rstrip("/")
    port = port or free_port()
    argv = [
        PYTHON,
        "-m",
        "ollama_standin",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--embed-dim",
        str(embed_dim),
        *(extra_args or []),
    ]
    proc = ManagedProcess("ollama-standin", argv, tmp_dir, cwd=STANDIN_DIR).start()
    url = f"http://127.0.0.1:{port}"
    answers = http_ok(f"{url}/api/version")
    try:
        wait_until(lambda: not proc.alive() or answers(), timeout, "the Ollama stand-in")
        if not proc.alive():
            raise AssertionError(f"the Ollama stand-in exited with code {proc.stop()}")
    except AssertionError as exc:
        proc.stop()
        raise AssertionError(f"{exc}\n--- ollama-standin log ---\n{proc.log_tail()}") from exc
    return proc, url
