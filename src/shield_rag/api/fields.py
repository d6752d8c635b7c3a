"""Field types the request models share: metadata labels, JSON integers, non-blank strings."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, StringConstraints

# Metadata labels stored with every chunk: filter on them as ``metadata.<key>``.
METADATA_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
MetadataValue = str | int | float | bool | None
MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY_PATTERN)]
MAX_METADATA_KEYS = 64
MAX_METADATA_CHARS = 4096

# In the schema only: a string the server refuses when it is blank (the server's own check
# gives the message). Python's str.strip also strips \x1c-\x1f, which JSON Schema's \s
# does not name. The limits taken from settings are set by the orchestrator's OpenAPI step.
NOT_BLANK: dict[str, Any] = {"pattern": r"[^\s\x1c-\x1f]"}
# Fields that pydantic strips (strip_whitespace): it trims exactly JSON Schema's \s.
NOT_BLANK_TRIMMED: dict[str, Any] = {"pattern": r"\S"}
# Request bodies are read strictly, as the schema says: no "10" for 10, no true for 1.
STRICT = ConfigDict(extra="forbid", strict=True)
INT64 = (-(2**63), 2**63 - 1)


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys are allowed")
    for key, item in value.items():
        if isinstance(item, str) and len(item) > MAX_METADATA_CHARS:
            raise ValueError(
                f"metadata value for {key!r} is longer than {MAX_METADATA_CHARS} characters"
            )
    return value


def json_integer(value: Any) -> Any:
    """5.0 is an integer in JSON (and in JSON Schema); strict mode alone would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(json_integer)]
