"""Ollama's environment as ``ollama serve`` reads it (envconfig), plus the stand-in's knobs.

Ollama's: ``OLLAMA_HOST``, ``OLLAMA_MODELS``, ``OLLAMA_KEEP_ALIVE``, ``OLLAMA_NUM_PARALLEL``,
``OLLAMA_MAX_LOADED_MODELS``, ``OLLAMA_DEBUG`` (turns the access log on). The stand-in's own
(tests only) are named ``SHIELD_OLLAMA_STANDIN_*``: see :class:`ServeConfig`. The LLM knobs
``SHIELD_OLLAMA_STANDIN_LLM_LATENCY`` and ``SHIELD_OLLAMA_STANDIN_FAIL_MODELS`` are also read
as ``OLLAMA_STANDIN_LLM_LATENCY`` and ``OLLAMA_STANDIN_FAIL_MODELS`` (issue 19's spelling).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "SHIELD_OLLAMA_STANDIN_"
SHORT_PREFIX = "OLLAMA_STANDIN_"  # accepted for the LLM knobs only (see the docstring)
MAX_LATENCY = 60.0
DEFAULT_KEEP_ALIVE = 300.0  # Ollama's default: 5m
DEFAULT_MAX_LOADED = 3  # Ollama's default on a CPU-only machine (3 per GPU otherwise)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` ("5m", "1h30m", "-1s", "0"), in seconds."""
    s = text.strip()
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        match = _PART_RE.match(s, pos)
        if not match:
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not s:
        raise ValueError(f"time: invalid duration {text!r}")
    return sign * total


def keep_alive_seconds(value: float | str | None, default: float | None) -> float | None:
    """A keep_alive (number of seconds, or a duration string; negative: forever) in seconds;
    None means forever. ``default`` answers an absent value."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            seconds = parse_duration(value)
    else:
        seconds = float(value)
    if math.isnan(seconds):
        raise ValueError(f"invalid keep_alive {value!r}")
    return None if seconds < 0 else seconds


def parse_host(value: str | None) -> tuple[str, int]:
    """``OLLAMA_HOST`` as Ollama reads it: "host:port", "host", ":port", "http://host:port";
    default 127.0.0.1:11434 (a scheme without a port means 80 or 443, as in Ollama)."""
    s = (value or "").strip().strip("\"'")
    default_port = 11434
    scheme, sep, hostport = s.partition("://")
    if not sep:
        hostport = s
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    match = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]*):(\d+)", hostport)
    if match:
        host = match.group(1) if match.group(1) is not None else match.group(3)
        return host or "0.0.0.0", int(match.group(2) or match.group(4))
    bare = hostport.strip("[]")
    try:
        return str(ipaddress.ip_address(bare)), default_port
    except ValueError:
        return bare or "127.0.0.1", default_port


def _names(value: str) -> list[str]:
    return [n.strip() for n in re.split(r"[,\s]+", value) if n.strip()]


def parse_latency(item: str, source: str) -> tuple[str, float]:
    """One ``MODEL=SECONDS`` (seconds per reply chunk, 0-60); ValueError names ``source``."""
    model, sep, raw = item.strip().rpartition("=")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not sep or not model.strip() or not 0 <= seconds <= MAX_LATENCY:
        raise ValueError(
            f"{source}: {item.strip()!r} is not MODEL=SECONDS with SECONDS between 0 and "
            f"{MAX_LATENCY:g} (e.g. qwen2.5:0.5b=0.05)"
        )
    return model.strip(), seconds


def parse_latencies(value: str, source: str) -> dict[str, float]:
    """``model=seconds,model2=seconds`` (comma or space separated) as a dict."""
    return dict(parse_latency(item, source) for item in _names(value))


def _llm_knob(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """``(variable, value)`` of an LLM knob under either spelling; both set differently is an
    error rather than a guess."""
    long, short = PREFIX + name, SHORT_PREFIX + name
    long_value, short_value = env.get(long, "").strip(), env.get(short, "").strip()
    if long_value and short_value and long_value != short_value:
        raise ValueError(f"{long} and {short} are both set, differently: set only {long}")
    return (long, long_value) if long_value or not short_value else (short, short_value)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        return default  # Ollama warns and keeps the default on a bad value
    return number if number > 0 else default


def _debug_level(env: Mapping[str, str]) -> str:
    debug = env.get("OLLAMA_DEBUG", "").strip().lower()
    return "warning" if debug in ("", "0", "false") else "info"


@dataclass
class ServeConfig:
    """What ``serve`` runs with. ``models_dir`` None: everything in the catalog is installed
    and nothing is kept on disk (the stand-in's historical behaviour)."""

    host: str = "127.0.0.1"
    port: int = 11434
    models_dir: Path | None = None
    keep_alive: float | None = DEFAULT_KEEP_ALIVE
    num_parallel: int = 1
    max_loaded: int = DEFAULT_MAX_LOADED
    # SHIELD_OLLAMA_STANDIN_EMBED_DIM / _EMBED_BACKEND / _EMBED_LATENCY
    embed_dim: int = 384
    embed_backend: str = "lexical"
    embed_latency: float = 0.0
    # SHIELD_OLLAMA_STANDIN_EMBED_MODELS / _LLM_MODELS: extra names the "registry" offers
    embed_models: list[str] = field(default_factory=list)
    llm_models: list[str] = field(default_factory=list)
    # SHIELD_OLLAMA_STANDIN_INSTALLED=all: with OLLAMA_MODELS, start with the catalog installed
    preinstalled: bool = False
    # SHIELD_OLLAMA_STANDIN_LLM_LATENCY: model -> seconds per reply chunk; _FAIL_MODELS: models
    # whose chat and generate answer 500 (runner terminated)
    llm_latency: dict[str, float] = field(default_factory=dict)
    llm_fail: list[str] = field(default_factory=list)
    log_level: str = "warning"  # SHIELD_OLLAMA_STANDIN_LOG_LEVEL


def serve_config(env: Mapping[str, str] | None = None) -> ServeConfig:
    """Read the configuration of ``ollama serve`` from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    host, port = parse_host(env.get("OLLAMA_HOST"))
    models = env.get("OLLAMA_MODELS", "").strip()
    try:
        raw = env.get("OLLAMA_KEEP_ALIVE", "").strip()
        keep_alive = keep_alive_seconds(raw, DEFAULT_KEEP_ALIVE)
    except ValueError:  # Ollama keeps its default on a value it cannot read
        keep_alive = DEFAULT_KEEP_ALIVE
    latency_var, latency_value = _llm_knob(env, "LLM_LATENCY")
    cfg = ServeConfig(
        host=host,
        port=port,
        models_dir=Path(models).expanduser() if models else None,
        keep_alive=keep_alive,
        num_parallel=_positive_int(env, "OLLAMA_NUM_PARALLEL", 1),
        max_loaded=_positive_int(env, "OLLAMA_MAX_LOADED_MODELS", DEFAULT_MAX_LOADED),
        embed_dim=_positive_int(env, PREFIX + "EMBED_DIM", 384),
        embed_backend=env.get(PREFIX + "EMBED_BACKEND", "").strip() or "lexical",
        embed_latency=float(env.get(PREFIX + "EMBED_LATENCY", "").strip() or 0.0),
        embed_models=_names(env.get(PREFIX + "EMBED_MODELS", "")),
        llm_models=_names(env.get(PREFIX + "LLM_MODELS", "")),
        preinstalled=env.get(PREFIX + "INSTALLED", "").strip().lower() == "all",
        llm_latency=parse_latencies(latency_value, latency_var),
        llm_fail=_names(_llm_knob(env, "FAIL_MODELS")[1]),
        log_level=env.get(PREFIX + "LOG_LEVEL", "").strip() or _debug_level(env),
    )
    if cfg.embed_backend not in ("lexical", "minilm"):
        raise ValueError(f"{PREFIX}EMBED_BACKEND must be lexical or minilm")
    if not 0 <= cfg.embed_latency <= 60:
        raise ValueError(f"{PREFIX}EMBED_LATENCY must be between 0 and 60 seconds")
    return cfg
