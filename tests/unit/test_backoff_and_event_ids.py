"""Retry backoff (backoff_delay) and SSE event ids (valid_event_id)."""

from __future__ import annotations

import pytest

from shield_rag.jobs.queue import backoff_delay
from shield_rag.jobs.store import valid_event_id


# -- backoff_delay ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (8, 256.0), (9, 300.0)]
)
def test_backoff_doubles_from_base_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, 2.0, 300.0) == expected


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_backoff_before_the_first_attempt_is_the_base(attempt: int) -> None:
    assert backoff_delay(attempt, 2.0, 300.0) == 2.0


def test_backoff_is_a_float_and_capped() -> None:
    assert isinstance(backoff_delay(1, 2, 300), float)
    assert backoff_delay(1, 0.2, 2.0) == pytest.approx(0.2)
    assert backoff_delay(4, 0.2, 2.0) == pytest.approx(1.6)
    assert backoff_delay(5, 0.2, 2.0) == 2.0
    assert backoff_delay(1, 10.0, 5.0) == 5.0  # the cap wins even over the base
    assert backoff_delay(100, 2.0, 300.0) == 300.0  # worker.max_attempts is at most 100


def test_backoff_never_decreases() -> None:
    delays = [backoff_delay(n, 1.5, 100.0) for n in range(1, 30)]
    assert delays == sorted(delays)


# -- valid_event_id -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["0-0", "1700000000000-0", "1700000000000-15", "1-2", f"{2**64 - 1}-{2**64 - 1}"],
)
def test_valid_event_ids(value: str) -> None:
    assert valid_event_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "1",
        "1700000000000",  # Redis accepts a bare ms time; the API wants what it sent
        "1-",
        "-1",
        "-",
        "1-2-3",
        "1--2",
        "$",
        ">",
        "+",
        "*",
        "0-0 ",
        " 0-0",
        "1.5-0",
        "+1-0",
        "0x1-0",
        "\u0661\u0662-\u0660",  # Arabic-Indic digits pass str.isdigit
        "²-0",  # so does a superscript two
        "9" * 20 + "-" + "9" * 21,  # 42 characters
        f"{2**64}-0",  # Redis reads each part as a 64-bit unsigned integer
        "0-" + "9" * 20,
    ],
)
def test_invalid_event_ids(value: str) -> None:
    assert not valid_event_id(value)
