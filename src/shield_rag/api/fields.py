"""Field types the request models share: metadata labels, JSON integers, non-blank strings."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
)

# Metadata labels stored with every chunk: filter on them as ``metadata.<key>``.
METADATA_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
# Numbers are finite: NaN and the infinities are not JSON, and a filter could not match them.
MetadataValue = str | int | FiniteFloat | bool | None
MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY_PATTERN)]
MAX_METADATA_KEYS = 64
MAX_METADATA_CHARS = 4096

# Blank: nothing but whitespace and control characters. The class names the characters the
# two regex dialects read differently (Python's \s has \x1c-\x1f and \x85, ECMA's has
# \ufeff) and every control character (Unicode Cc), so the schema's pattern (ECMA, as
# clients and fuzzers read it) and the server's check (Python) refuse the same strings.
# The limits taken from settings are set by the orchestrator's OpenAPI step.
_BLANK_CHARS = r"\s\x00-\x1f\x7f-\x9f\ufeff"
VISIBLE = rf"[^{_BLANK_CHARS}]"
NOT_BLANK: dict[str, Any] = {"pattern": VISIBLE}
BLANK_MESSAGE = "is blank (only whitespace or control characters)"
_VISIBLE = re.compile(VISIBLE)


def is_blank(text: str) -> bool:
    """True when ``text`` has no character besides whitespace and control characters."""
    return _VISIBLE.search(text) is None


def not_blank(what: str) -> AfterValidator:
    """A validator refusing a blank string, naming it ``what`` in its message."""

    def check(value: str) -> str:
        if is_blank(value):
            raise ValueError(f"{what} {BLANK_MESSAGE}")
        return value

    return AfterValidator(check)


def _strip(value: str) -> str:
    return value.strip()


# Names given with a text: a blank one names nothing (leave it out for an unnamed entry).
Source = Annotated[
    str,
    StringConstraints(max_length=2048),
    not_blank("source"),
    Field(json_schema_extra=NOT_BLANK),
]
Title = Annotated[
    str,
    StringConstraints(max_length=512),
    not_blank("title"),
    Field(json_schema_extra=NOT_BLANK),
]


# A query: at most 8192 characters as sent (what the schema's maxLength counts), not blank,
# then trimmed of surrounding whitespace.
Query = Annotated[
    str,
    StringConstraints(min_length=1, max_length=8192),
    not_blank("query"),
    AfterValidator(_strip),
]


# Request bodies are read strictly, as the schema says: no "10" for 10, no true for 1; and
# their numbers are finite (Python's JSON reader takes NaN and Infinity, which JSON has not).
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
INT64 = (-(2**63), 2**63 - 1)


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys are allowed")
    for key, item in value.items():
        if isinstance(item, str) and len(item) > MAX_METADATA_CHARS:
            raise ValueError(
                f"metadata value for {key!r} is longer than {MAX_METADATA_CHARS} characters"
            )
        if (
            isinstance(item, int)
            and not isinstance(item, bool)
            and not INT64[0] <= item <= INT64[1]
        ):
            # Beyond Qdrant's 64-bit integers, a number: stored, and filtered, as a double
            # (a filter takes it so too: api.search.normalise_filters).
            try:
                value[key] = float(item)
            except OverflowError:
                raise ValueError(f"metadata value for {key!r} is too large") from None
        if isinstance(item, str) and not item.isascii():
            try:
                item.encode()
            except UnicodeEncodeError as exc:  # a lone surrogate (JSON's "\ud800") is no text
                raise ValueError(
                    f"metadata value for {key!r} is not valid Unicode: {exc.reason} at {exc.start}"
                ) from None
    return value


def json_integer(value: Any) -> Any:
    """5.0 is an integer in JSON (and in JSON Schema); strict mode alone would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(json_integer)]
