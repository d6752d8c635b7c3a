"""Search filters (``build_filter``) and deterministic point ids (``point_id``)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import TypeAdapter, ValidationError
from qdrant_client import models

from shield_rag.api.search import FILTER_FIELDS, Filters
from shield_rag.clients.qdrant_requests import FilterError, build_filter
from shield_rag.documents import POINT_NAMESPACE, chunk_points, point_id

# How POST /search parses "filters" before build_filter sees them.
FILTERS = TypeAdapter(Filters)


def _only(flt: models.Filter | None) -> models.FieldCondition:
    assert flt is not None
    assert flt.should is None and flt.must_not is None
    assert isinstance(flt.must, list) and len(flt.must) == 1
    cond = flt.must[0]
    assert isinstance(cond, models.FieldCondition)
    return cond


# -- build_filter -------------------------------------------------------------------------
@pytest.mark.parametrize("empty", [None, {}])
def test_no_filters_means_no_filter(empty: dict | None) -> None:
    assert build_filter(empty) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("source", "notes.txt"),
        ("doc_id", "0123456789abcdef0123456789abcdef"),
        ("chunk_index", 3),
        ("chunk_index", 0),
        ("metadata.public", True),
        ("metadata.public", False),
        ("metadata.team", ""),
    ],
)
def test_scalar_matches_exactly(key: str, value: str | int | bool) -> None:
    cond = _only(build_filter({key: value}))
    assert cond.key == key
    assert cond.range is None
    assert cond.match == models.MatchValue(value=value)
    assert type(cond.match.value) is type(value)  # a bool stays a bool, never 0/1


@pytest.mark.parametrize("value", [2.5, -0.25, 3.0, 0.0])
def test_float_is_an_equality_range(value: float) -> None:
    cond = _only(build_filter({"metadata.score": value}))
    assert cond.key == "metadata.score"
    assert cond.match is None
    assert cond.range == models.Range(gte=value, lte=value)


@pytest.mark.parametrize(
    "values",
    [["a"], ["a", "b", "c"], [1, 2, 3], list(range(100)), [f"v{i}" for i in range(100)]],
)
def test_list_matches_any(values: list) -> None:
    cond = _only(build_filter({"metadata.tag": values}))
    assert cond.key == "metadata.tag"
    assert cond.match == models.MatchAny(any=values)


@pytest.mark.parametrize(
    "bounds",
    [
        {"gte": 2},
        {"gt": 1.5},
        {"lt": 10},
        {"lte": 0},
        {"gte": 1, "lt": 5},
        {"gt": 0, "gte": 1, "lt": 9, "lte": 8},
    ],
)
def test_mapping_is_a_range(bounds: dict[str, float]) -> None:
    cond = _only(build_filter({"chunk_index": bounds}))
    assert cond.key == "chunk_index"
    assert cond.match is None
    assert cond.range == models.Range(**bounds)
    for name in ("gt", "gte", "lt", "lte"):
        assert getattr(cond.range, name) == bounds.get(name)


@pytest.mark.parametrize(
    "bounds",
    [{"between": 1}, {"gte": 1, "ge": 2}, {"GTE": 1}, {"eq": 3}, {"min": 0, "max": 1}],
)
def test_unknown_range_keys_are_refused_with_their_names(bounds: dict[str, float]) -> None:
    with pytest.raises(FilterError) as err:
        build_filter({"chunk_index": bounds})
    message = str(err.value)
    assert "'chunk_index'" in message
    assert "gt/gte/lt/lte" in message
    assert str(sorted(bounds)) in message


def test_empty_range_is_refused() -> None:
    with pytest.raises(FilterError, match=r"'chunk_index'.*gt/gte/lt/lte, got \[\]"):
        build_filter({"chunk_index": {}})


@pytest.mark.parametrize("values", [[], list(range(101)), ["x"] * 101])
def test_list_must_hold_1_to_100_values(values: list) -> None:
    with pytest.raises(FilterError, match=r"filter 'doc_id': give 1 to 100 values"):
        build_filter({"doc_id": values})


@pytest.mark.parametrize(
    "key",
    ["", "$gt", "flag", "text", "source.x", "metadata.", "metadata.$gt", "metadata." + "x" * 65],
)
def test_a_key_names_a_stored_field_or_a_metadata_label(key: str) -> None:
    """Anything else would reach Qdrant as a path it refuses (400), or match nothing."""
    with pytest.raises(FilterError, match=r"not a field of the stored chunks: filter on doc_id"):
        build_filter({key: "x"})


@pytest.mark.parametrize("field", FILTER_FIELDS)
def test_every_stored_field_can_be_filtered_on(field: str) -> None:
    assert _only(build_filter({field: "x"})).key == field


def test_the_fields_are_those_every_chunk_stores() -> None:
    stored = {"source": "s", "title": None, "content_type": "text/plain", "kind": "text"}
    stored |= {"job_id": "", "metadata": {}, "ingested_at": 0.0}
    payloads = chunk_points("d" * 32, ["a chunk"], **stored)[1]  # type: ignore[arg-type]
    assert set(FILTER_FIELDS) == set(payloads[0]) - {"text", "metadata"}


def test_longest_metadata_label() -> None:
    key = "metadata." + "x" * 64
    assert _only(build_filter({key: "x"})).key == key


def test_a_metadata_label_with_dots_is_one_quoted_key() -> None:
    """Metadata labels may hold dots; unquoted, Qdrant would read a nested path instead."""
    assert _only(build_filter({"metadata.team.lead": "x"})).key == 'metadata."team.lead"'


def test_every_entry_becomes_one_must_condition_in_order() -> None:
    flt = build_filter(
        {
            "source": "a",
            "chunk_index": {"gte": 2},
            "doc_id": ["x", "y"],
            "metadata.weight": 1.5,
        }
    )
    assert flt is not None and flt.should is None and flt.must_not is None
    assert flt.must == [
        models.FieldCondition(key="source", match=models.MatchValue(value="a")),
        models.FieldCondition(key="chunk_index", range=models.Range(gte=2)),
        models.FieldCondition(key="doc_id", match=models.MatchAny(any=["x", "y"])),
        models.FieldCondition(key="metadata.weight", range=models.Range(gte=1.5, lte=1.5)),
    ]


def test_one_bad_entry_refuses_the_whole_filter() -> None:
    with pytest.raises(FilterError, match="'doc_id'"):
        build_filter({"source": "a", "doc_id": []})


def test_filter_error_is_a_value_error() -> None:
    # The orchestrator maps FilterError to 422; it must stay a plain ValueError subclass.
    assert issubclass(FilterError, ValueError)


# -- the JSON shapes POST /search accepts for "filters" ----------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"metadata.k": "x"}', models.MatchValue(value="x")),
        ('{"metadata.k": 7}', models.MatchValue(value=7)),
        ('{"metadata.k": true}', models.MatchValue(value=True)),
        ('{"metadata.k": ["a", "b"]}', models.MatchAny(any=["a", "b"])),
        ('{"metadata.k": [1, 2]}', models.MatchAny(any=[1, 2])),
    ],
)
def test_json_values_become_matches(raw: str, expected: models.Match) -> None:
    assert _only(build_filter(FILTERS.validate_json(raw))).match == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"metadata.k": 2.5}', models.Range(gte=2.5, lte=2.5)),
        ('{"metadata.k": 3.0}', models.Range(gte=3.0, lte=3.0)),
        ('{"metadata.k": {"gte": 1, "lt": 4}}', models.Range(gte=1.0, lt=4.0)),
    ],
)
def test_json_values_become_ranges(raw: str, expected: models.Range) -> None:
    assert _only(build_filter(FILTERS.validate_json(raw))).range == expected


@pytest.mark.parametrize(
    ("raw", "got"),
    [
        ('{"metadata.k": null}', "null"),
        ('{"metadata.k": ["a", 1, null]}', "a list of integers, nulls and strings"),
        ('{"metadata.k": [1.5]}', "a list of numbers"),
        ('{"metadata.k": [true]}', "a list of booleans"),
        ('{"metadata.k": {"gte": "x"}}', "a range whose bounds are not all finite numbers"),
        ('{"metadata.k": {"gte": 1, "lt": null}}', "a range whose bounds are"),
        ('{"metadata.k": {"a": {"b": 1}}}', "an object with the keys a (a range has gte"),
        ('{"metadata.k": [[1]]}', "a list of lists or objects"),
        ('{"metadata.k": "' + "x" * 4097 + '"}', "a string of 4097 characters (at most 4096)"),
    ],
)
def test_json_values_no_condition_can_express_are_refused_in_one_error(raw: str, got: str) -> None:
    """One error naming the forms a value may take and what was given, not one per form."""
    with pytest.raises(ValidationError) as refused:
        FILTERS.validate_json(raw)
    (error,) = refused.value.errors()
    assert error["loc"][-1] == "metadata.k"
    assert "a filter value is a string, a number, true or false" in error["msg"]
    assert f"; got {got}" in error["msg"], error["msg"]


def test_a_key_no_filter_can_name_is_refused_where_the_request_is_read() -> None:
    with pytest.raises(ValidationError, match=r"'\$gt' is not a field of the stored chunks"):
        FILTERS.validate_json('{"$gt": 1}')


# -- point_id -----------------------------------------------------------------------------
def test_point_id_is_uuid5_of_doc_id_and_chunk_index() -> None:
    doc = "0123456789abcdef0123456789abcdef"
    pid = point_id(doc, 4)
    assert pid == str(uuid.uuid5(POINT_NAMESPACE, f"{doc}:4"))
    parsed = uuid.UUID(pid)
    assert parsed.version == 5
    assert str(parsed) == pid  # canonical lowercase, hyphenated: what Qdrant returns


def test_point_id_never_changes() -> None:
    # Pinned: a different namespace or format would make every re-ingest duplicate vectors.
    assert str(POINT_NAMESPACE) == "6f1c1f55-8f0e-4a57-9a8e-5b1f7cde2a11"
    doc = "0123456789abcdef0123456789abcdef"
    assert point_id(doc, 0) == "56ddfaad-ede3-5297-aebf-96f2efb981b3"
    assert point_id(doc, 1) == "520ed8a4-458a-5c0f-a185-7e4fdd69939a"


def test_point_id_is_deterministic() -> None:
    assert [point_id("d" * 32, i) for i in range(50)] == [point_id("d" * 32, i) for i in range(50)]


def test_point_ids_are_unique_across_chunks_and_documents() -> None:
    docs = [f"{n:032x}" for n in range(40)]
    ids = {point_id(doc, i) for doc in docs for i in range(250)}
    assert len(ids) == len(docs) * 250


def test_point_id_separates_doc_id_from_chunk_index() -> None:
    # "<doc_id>:<chunk_index>": doc "a1" chunk 2 differs from doc "a" chunk 12.
    assert point_id("a1", 2) != point_id("a", 12)
    assert point_id("a", 1) != point_id("a", 10)
