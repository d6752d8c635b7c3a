"""Chunk identity and payload (``shield_rag.documents``), shared by the workers and
``POST /vectors``: stored points must keep their ids and fields from release to release."""

from __future__ import annotations

from shield_rag.documents import (
    chunk_points,
    doc_id_for,
    entry_doc_id,
    former_unnamed_doc_id,
    point_id,
)

PAYLOAD_FIELDS = {
    "text",
    "doc_id",
    "chunk_index",
    "chunk_count",
    "source",
    "title",
    "content_type",
    "kind",
    "job_id",
    "ingested_at",
    "metadata",
}


def test_doc_ids_never_change() -> None:
    assert doc_id_for("url", "https://example.org/") == "2be234824c97852d4ae85d67db20e095"
    assert doc_id_for("document", b"%PDF") == "740d3643f6058e622b2c76587033b9f6"
    assert doc_id_for("vector", "note") == "6fa4177bd463ac6d418219a24456e68f"


def test_the_kind_is_part_of_the_identity() -> None:
    assert doc_id_for("text", "same") != doc_id_for("vector", "same")
    assert doc_id_for("text", "same") == doc_id_for("text", b"same")


def test_a_named_entry_keeps_the_id_of_its_source() -> None:
    assert entry_doc_id("vector", "note", "any text") == "6fa4177bd463ac6d418219a24456e68f"
    assert entry_doc_id("text", "notes", "a") == entry_doc_id("text", "notes", "b")


def test_a_text_never_takes_the_id_of_an_entry_named_like_it() -> None:
    for kind in ("vector", "text"):
        named = entry_doc_id(kind, "orchard-note", "The harvest starts in September.")
        unnamed = entry_doc_id(kind, None, "orchard-note")
        assert unnamed != named
        assert entry_doc_id(kind, "", "orchard-note") == unnamed
        # 0.1.0 gave the unnamed text the named entry's id: the write that replaces it
        # deletes that id's points only under the unnamed entry's own source.
        assert former_unnamed_doc_id(kind, "orchard-note") == named


def test_chunk_points_are_ids_and_payloads_in_order() -> None:
    doc_id = doc_id_for("text", "notes")
    ids, payloads = chunk_points(
        doc_id,
        ["first", "second"],
        source="notes",
        title=None,
        content_type="text/plain",
        kind="text",
        job_id="j" * 32,
        metadata={"topic": "x"},
        ingested_at=1.5,
    )
    assert ids == [point_id(doc_id, 0), point_id(doc_id, 1)]
    assert [set(p) for p in payloads] == [PAYLOAD_FIELDS, PAYLOAD_FIELDS]
    assert [(p["text"], p["chunk_index"], p["chunk_count"]) for p in payloads] == [
        ("first", 0, 2),
        ("second", 1, 2),
    ]
    assert payloads[1] | {"text": "first", "chunk_index": 0} == payloads[0]
    assert payloads[0]["metadata"] == {"topic": "x"}
    assert payloads[0]["ingested_at"] == 1.5
