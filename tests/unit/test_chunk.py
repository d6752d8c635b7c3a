"""Chunking: size bound, boundaries, overlap, determinism."""

from __future__ import annotations

import itertools
import re

import pytest

from shield_rag.ingest.chunk import chunk_text, normalise_whitespace
from shield_rag.settings import ChunkSettings


def _words(text: str) -> list[str]:
    return text.split()


def _shared_edge(left: str, right: str) -> int:
    """Length of the longest suffix of ``left`` that is a prefix of ``right``."""
    for size in range(min(len(left), len(right)), 0, -1):
        if left.endswith(right[:size]):
            return size
    return 0


def _sentences(n: int) -> str:
    return " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(n))


def test_empty_and_blank_text_gives_no_chunks() -> None:
    assert chunk_text("", 200, 20) == []
    assert chunk_text(" \n\t\r\n  ", 200, 20) == []


def test_short_text_is_one_normalised_chunk() -> None:
    assert chunk_text("  Hello \t  world.\r\n\r\n\r\n  Bye  ", 200, 20) == ["Hello world.\n\nBye"]


def test_normalise_whitespace() -> None:
    assert normalise_whitespace("a  b\t\tc\n \n\n\nd \n e") == "a b c\n\nd\ne"


@pytest.mark.parametrize(("max_chars", "overlap"), [(100, 0), (200, 30), (500, 120), (1500, 150)])
def test_chunks_respect_the_size_and_are_not_empty(max_chars: int, overlap: int) -> None:
    text = "\n\n".join(_sentences(5 + i % 9) for i in range(40))
    chunks = chunk_text(text, max_chars, overlap)
    assert len(chunks) > 1
    assert all(0 < len(c) <= max_chars for c in chunks)
    assert all(c == c.strip() and "  " not in c for c in chunks)


def test_deterministic() -> None:
    text = "\n\n".join(_sentences(12) for _unused in range(10))
    assert chunk_text(text, 300, 50) == chunk_text(text, 300, 50)


def test_every_word_is_kept_in_order_without_overlap() -> None:
    text = "\n\n".join(_sentences(3 + i % 5) for i in range(30))
    chunks = chunk_text(text, 250, 0)
    assert _words(" ".join(chunks)) == _words(text)


def test_whole_paragraphs_stay_together_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i} " + "filler " * 8 + "end." for i in range(12)]
    chunks = chunk_text("\n\n".join(paragraphs), 200, 0)
    for chunk in chunks:
        for part in chunk.split("\n\n"):
            assert part in paragraphs


def test_long_paragraph_splits_at_sentence_ends() -> None:
    chunks = chunk_text(_sentences(40), 200, 0)
    assert len(chunks) > 3
    assert all(c.endswith(".") for c in chunks)
    assert all(re.match(r"Sentence number \d+", c) for c in chunks)


def test_long_run_without_spaces_is_cut_inside_the_word() -> None:
    token = "x" * 1000
    chunks = chunk_text(f"start {token} end", 150, 0)
    assert all(len(c) <= 150 for c in chunks)
    assert "".join(_words(" ".join(chunks))) == f"start{token}end"


def test_neighbouring_chunks_overlap() -> None:
    text = " ".join(f"w{i:04d}" for i in range(2000))  # no sentence or paragraph breaks
    max_chars, overlap = 300, 60
    chunks = chunk_text(text, max_chars, overlap)
    assert len(chunks) > 10
    for left, right in itertools.pairwise(chunks):
        shared = _shared_edge(left, right)
        assert overlap // 2 <= shared <= max_chars // 2, (left[-80:], right[:80])
    assert chunks[0].startswith("w0000")
    assert chunks[-1].endswith("w1999")


def test_no_overlap_means_no_repeated_words() -> None:
    text = " ".join(f"w{i:04d}" for i in range(1000))
    chunks = chunk_text(text, 300, 0)
    assert _words(" ".join(chunks)) == _words(text)


@pytest.mark.parametrize(("max_chars", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_arguments(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        chunk_text("text", max_chars, overlap)


def test_default_settings_work() -> None:
    s = ChunkSettings()
    text = "\n\n".join(_sentences(10) for _unused in range(30))
    chunks = chunk_text(text, s.max_chars, s.overlap_chars)
    assert chunks
    assert all(len(c) <= s.max_chars for c in chunks)
