"""Split text into overlapping chunks of at most ``max_chars`` characters.

The splitting is semchunk's: it cuts at the largest boundary that makes a piece fit -
paragraph breaks, then line breaks, then sentence ends, then clause punctuation, then words,
and only then inside a word - and merges neighbouring pieces back up to the size limit.
Whitespace is normalised first (runs of spaces and tabs become one space, blank-line runs one
blank line) so sentence boundaries are found and chunks hold no padding.
"""

from __future__ import annotations

import re
from typing import cast

import semchunk

_BLANK_LINES = re.compile(r"\n\s*\n+")


def normalise_whitespace(text: str) -> str:
    """One space between words, one blank line between paragraphs, no edge whitespace."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def chunk_text(text: str, max_chars: int, overlap_chars: int) -> list[str]:
    """Chunks of at most ``max_chars``; neighbours share about ``overlap_chars`` characters.

    Deterministic: the same input always gives the same chunks. No chunk is empty.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if not 0 <= overlap_chars < max_chars:
        raise ValueError("overlap_chars must be at least 0 and smaller than max_chars")
    clean = normalise_whitespace(text)
    if not clean:
        return []
    if len(clean) <= max_chars:
        return [clean]
    # Without offsets=True semchunk returns just the list of chunks.
    pieces = cast(
        "list[str]",
        semchunk.chunk(clean, max_chars, len, memoize=False, overlap=overlap_chars or None),
    )
    chunks = [normalise_whitespace(piece) for piece in pieces]
    return [c for c in chunks if c]
