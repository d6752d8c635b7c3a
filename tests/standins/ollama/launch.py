"""Start the Ollama stand-in for a test, or use a real Ollama named by the environment.

``SHIELD_TEST_OLLAMA_URL=http://127.0.0.1:11434`` makes every test that calls
:func:`start_ollama` use that (real) Ollama instead of starting the stand-in; it must have
the models the test asks for pulled already (``all-minilm`` and ``qwen2.5:0.5b`` by default).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins.ollama.ollama_standin.envconfig import parse_host
from tests.support.procs import PYTHON, ManagedProcess, free_port, http_ok

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
    proc.wait_answering(answers, timeout, "the Ollama stand-in")
    return proc, url


# Ollama's variables and the stand-in's knobs: every one is set for a serve-mode process
# (empty: the default) so that none leaks in from the environment running the tests.
SERVE_ENV_NAMES = (
    "OLLAMA_HOST",
    "OLLAMA_MODELS",
    "OLLAMA_KEEP_ALIVE",
    "OLLAMA_NUM_PARALLEL",
    "OLLAMA_MAX_LOADED_MODELS",
    "SHIELD_OLLAMA_STANDIN_EMBED_DIM",
    "SHIELD_OLLAMA_STANDIN_EMBED_BACKEND",
    "SHIELD_OLLAMA_STANDIN_EMBED_LATENCY",
    "SHIELD_OLLAMA_STANDIN_EMBED_MODELS",
    "SHIELD_OLLAMA_STANDIN_LLM_MODELS",
    "SHIELD_OLLAMA_STANDIN_INSTALLED",
    "SHIELD_OLLAMA_STANDIN_VERSION",
    "SHIELD_OLLAMA_STANDIN_LLM_LATENCY",
    "SHIELD_OLLAMA_STANDIN_FAIL_MODELS",
    "OLLAMA_STANDIN_LLM_LATENCY",
    "OLLAMA_STANDIN_FAIL_MODELS",
)


def start_ollama_serve(
    tmp_dir: Path,
    env: dict[str, str] | None = None,
    *,
    executable: Path | None = None,
    port: int | None = None,
    name: str = "ollama-serve",
    timeout: float = 30.0,
) -> tuple[ManagedProcess, str]:
    """Start ``ollama serve`` (the stand-in) configured only by the environment, as a
    systemd unit would: ``executable`` (e.g. an unpacked release's bin/ollama), default
    ``python -m ollama_standin``. ``OLLAMA_HOST`` defaults to 127.0.0.1 and a free port;
    ``env`` adds or overrides variables. Returns ``(process, base_url)``; the caller stops it.
    """
    port = port or free_port()
    full = dict.fromkeys(SERVE_ENV_NAMES, "") | {"OLLAMA_HOST": f"127.0.0.1:{port}"}
    full |= env or {}
    argv = [str(executable), "serve"] if executable else [PYTHON, "-m", "ollama_standin", "serve"]
    cwd = tmp_dir if executable else STANDIN_DIR
    proc = ManagedProcess(name, argv, tmp_dir, env=full, cwd=cwd).start()
    host, port = parse_host(full["OLLAMA_HOST"])
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{host}:{port}"
    answers = http_ok(f"{url}/api/version")
    proc.wait_answering(answers, timeout, f"{name} to answer")
    return proc, url
