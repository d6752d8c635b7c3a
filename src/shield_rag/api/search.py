"""``POST /search``: vector search over the stored chunks, and its filters."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    Field,
    FiniteFloat,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)

from shield_rag.api.fields import (
    INT64,
    MAX_METADATA_CHARS,
    MAX_METADATA_KEYS,
    METADATA_KEY_PATTERN,
    NOT_BLANK,
    STRICT,
    JsonInt,
    Query,
    json_integer,
)

# Strict list members: [true] must not turn into [1] and silently match nothing; finite
# numbers (the MCP server reads its arguments without the API models' config).
_Float = Annotated[StrictFloat, AllowInfNan(False)]
# As long as a value a filter can match: a metadata value (MAX_METADATA_CHARS) at most.
_Str = Annotated[StrictStr, StringConstraints(max_length=MAX_METADATA_CHARS)]
_FILTER_VALUE_RULE = (
    "a filter value is a string, a number, true or false, a list of strings or a list of "
    'integers (matching any of them), or a range such as {"gte": 1, "lt": 5}'
)


_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
_BOUNDS = ("gte", "lte", "gt", "lt")


def _kind(value: Any) -> str:
    """What a filter value that fits no form is, in words."""
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number that is not finite"
    if isinstance(value, str):
        return f"a string of {len(value)} characters (at most {MAX_METADATA_CHARS})"
    if isinstance(value, list):
        kinds = sorted(
            {
                _PLURALS.get(type(item), "nulls" if item is None else "lists or objects")
                for item in value
            }
        )
        if not kinds:
            return "an empty list"
        return "a list of " + (", ".join(kinds[:-1]) + " and " if kinds[1:] else "") + kinds[-1]
    if isinstance(value, dict):
        if value and all(key in _BOUNDS for key in value):
            return "a range whose bounds are not all finite numbers"
        return f"an object with the keys {', '.join(map(str, value))[:120]} (a range has " + (
            ", ".join(_BOUNDS) + ")"
        )
    return type(value).__name__


def _one_filter_value(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One error that says what a filter value may be and what was given, rather than one
    per member of the union (seven, for a list holding a null)."""
    try:
        return handler(value)
    except ValidationError as exc:
        raise ValueError(f"{_FILTER_VALUE_RULE}; got {_kind(value)}") from exc


FilterValue = Annotated[
    _Str
    | StrictBool
    | StrictInt
    | _Float
    | list[_Str]
    | list[StrictInt]
    | dict[str, StrictInt | _Float],
    WrapValidator(_one_filter_value),
]
# The fields of a stored chunk's payload a filter can name (shield_rag.documents.chunk_points),
# and the metadata labels given at ingest, as metadata.<key>.
FILTER_FIELDS = (
    "doc_id",
    "source",
    "title",
    "content_type",
    "kind",
    "job_id",
    "chunk_index",
    "chunk_count",
    "ingested_at",
)
_LABEL = METADATA_KEY_PATTERN.removeprefix("^").removesuffix("$")
FILTER_KEY_PATTERN = rf"^({'|'.join(FILTER_FIELDS)}|metadata\.{_LABEL})$"
FILTERS_DESCRIPTION = (
    "Payload filters: a value matches exactly, a list matches any, "
    f"{{gte,lte,gt,lt}} is a range. Fields: {', '.join(FILTER_FIELDS)}, metadata.<key>"
)


def filter_path(key: str) -> str:
    """The Qdrant payload path of the filter key ``key``, or ValueError saying what a filter
    can name. A metadata label may hold dots ("team.lead"): it is quoted, so that Qdrant reads
    it as one key of ``metadata`` rather than a nested path."""
    if key in FILTER_FIELDS:
        return key
    label = key.removeprefix("metadata.")
    if label != key and re.fullmatch(METADATA_KEY_PATTERN, label):
        return f'metadata."{label}"' if "." in label else key
    raise ValueError(
        f"{key[:80]!r} is not a field of the stored chunks: filter on "
        f"{', '.join(FILTER_FIELDS)} or metadata.<key>, where <key> is a metadata label "
        f"as given at ingest ({METADATA_KEY_PATTERN})"
    )


def _check_filter_key(key: str) -> str:
    filter_path(key)
    return key


# Checked by filter_path; the pattern is what the JSON schema says.
FilterKey = Annotated[
    str,
    AfterValidator(_check_filter_key),
    WithJsonSchema({"type": "string", "pattern": FILTER_KEY_PATTERN}),
]


def normalise_filters(filters: Any) -> Any:
    """JSON numbers as the schema reads them: [1, 2.0] is a list of integers; a single
    integer beyond 64 bits is a number (matched as the range [n, n], like 2.5)."""
    if not isinstance(filters, dict):
        return filters
    out = {}
    for key, value in filters.items():
        if isinstance(value, list):
            value = [json_integer(v) for v in value]
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not INT64[0] <= value <= INT64[1]
        ):
            try:
                value = float(value)
            except OverflowError:
                too_large = f"filter {key[:80]!r}: {str(value)[:20]}... is too large"
                raise ValueError(too_large) from None
        out[key] = value
    return out


# As many keys as a chunk has fields and metadata labels.
MAX_FILTERS = len(FILTER_FIELDS) + MAX_METADATA_KEYS
Filters = Annotated[
    Annotated[
        dict[FilterKey, FilterValue],
        Field(max_length=MAX_FILTERS, json_schema_extra={"additionalProperties": False}),
    ]
    | None,
    BeforeValidator(normalise_filters),
]


class SearchRequest(BaseModel):
    model_config = STRICT
    query: Query = Field(json_schema_extra=NOT_BLANK)
    limit: JsonInt = Field(
        10, ge=1, description="Results per page (at most orchestrator.max_search_limit)"
    )
    offset: JsonInt = Field(0, ge=0, le=10000)
    filters: Filters = Field(None, description=FILTERS_DESCRIPTION)
    score_threshold: FiniteFloat | None = None


class SearchHit(BaseModel):
    id: str
    score: float
    text: str
    source: str | None = None
    title: str | None = None
    doc_id: str | None = None
    chunk_index: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_payload(cls, point_id: str, score: float, payload: dict[str, Any]) -> SearchHit:
        """A hit from a stored chunk's payload (see :mod:`shield_rag.documents`)."""
        return cls(
            id=point_id,
            score=score,
            text=str(payload.get("text", "")),
            source=payload.get("source"),
            title=payload.get("title"),
            doc_id=payload.get("doc_id"),
            chunk_index=payload.get("chunk_index"),
            metadata=payload.get("metadata") or {},
        )


class SearchResponse(BaseModel):
    results: list[SearchHit]
    limit: int
    offset: int
