"""Vectors for the tests that check embeddings and vector search."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def norm(v: Sequence[float]) -> float:
    """The Euclidean length of ``v``."""
    return math.sqrt(sum(x * x for x in v))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine similarity of two vectors of one length."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def unit_vector(rng: random.Random, dim: int) -> list[float]:
    """A random direction in ``dim`` dimensions, of length 1 (reproducible from ``rng``)."""
    v = [rng.gauss(0.0, 1.0) for _unused in range(dim)]
    length = norm(v)
    return [x / length for x in v]
