"""An entry's identity (``shield_rag.documents.entry_doc_id``): storing the same source again
replaces an entry, and nothing else does. A text stored without a source never replaces an
entry whose source reads like it; items of a batch naming one entry are stored once; an
unnamed entry stored by 0.1.0 (in the named entries' namespace) is replaced, not duplicated,
when the same text is stored again."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from shield_rag.documents import chunk_points, former_unnamed_doc_id
from tests.integration.stack import Stack


@pytest.fixture
def qdrant(stack: Stack) -> Iterator[QdrantClient]:
    client = QdrantClient(
        url=stack.qdrant_url, api_key=stack.qdrant_api_key, check_compatibility=False
    )
    try:
        yield client
    finally:
        client.close()


def _with(qdrant: QdrantClient, stack: Stack, key: str, value: str) -> list[dict[str, Any]]:
    records, _unused = qdrant.scroll(
        stack.collection,
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))]
        ),
        limit=100,
        with_payload=True,
    )
    return [dict(r.payload or {}) for r in records]


def _store(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    with stack.http() as c:
        r = c.post("/vectors", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _ingest(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    with stack.http() as c:
        r = c.post("/ingest-async", json={"type": "text", "graph": False, **body})
    assert r.status_code == 202, r.text
    job = stack.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    return job


def test_a_stored_text_never_replaces_an_entry_named_like_it(
    stack: Stack, qdrant: QdrantClient
) -> None:
    name = f"orchard-note-{uuid.uuid4().hex[:8]}"
    named = _store(stack, {"text": "The orchard harvest starts in late September.", "source": name})
    unnamed = _store(stack, {"text": name})
    assert unnamed["ids"] != named["ids"]
    assert [p["text"] for p in _with(qdrant, stack, "source", name)] == [
        "The orchard harvest starts in late September."
    ]
    assert len(_with(qdrant, stack, "text", name)) == 1


def test_an_ingested_text_never_replaces_a_document_named_like_it(
    stack: Stack, qdrant: QdrantClient
) -> None:
    name = f"quince-src-{uuid.uuid4().hex[:8]}"
    named = _ingest(
        stack, {"text": "Quince facts: quinces ripen yellow in autumn.", "source": name}
    )
    unnamed = _ingest(stack, {"text": name})
    assert unnamed["result"]["doc_ids"] != named["result"]["doc_ids"]
    assert [p["text"] for p in _with(qdrant, stack, "source", name)] == [
        "Quince facts: quinces ripen yellow in autumn."
    ]


@pytest.mark.parametrize(
    ("items", "kept", "entries"),
    [
        ([{"text": "dup one", "source": "dup"}, {"text": "dup two", "source": "dup"}], 1, 1),
        ([{"text": "x"}, {"text": "same", "metadata": {"v": 1}}, {"text": "same"}], 2, 2),
    ],
)
def test_items_naming_one_entry_are_stored_once_as_the_last_of_them(
    stack: Stack, qdrant: QdrantClient, items: list[dict[str, Any]], kept: int, entries: int
) -> None:
    """As if each item had been sent on its own, in turn: the last one replaced the others;
    the answer says so (one id per item, the same for items of one entry; the entries stored
    counted once)."""
    marker = uuid.uuid4().hex
    for item in items:
        item["metadata"] = {**item.get("metadata", {}), "marker": marker}
    answer = _store(stack, {"items": items})
    assert answer["count"] == entries
    assert len(answer["ids"]) == len(items) and len(set(answer["ids"])) == entries
    assert answer["ids"][kept] == answer["ids"][kept - 1]
    found = {p["text"]: p["metadata"] for p in _with(qdrant, stack, "metadata.marker", marker)}
    assert len(found) == entries
    assert found[items[kept]["text"]] == items[kept]["metadata"]


def _former_point(stack: Stack, qdrant: QdrantClient, kind: str, text: str, source: str) -> None:
    """Write a point as 0.1.0 stored an unnamed ``text``: under its named-namespace id."""
    size = qdrant.get_collection(stack.collection).config.params.vectors.size  # type: ignore[union-attr]
    ids, payloads = chunk_points(
        former_unnamed_doc_id(kind, text),
        [text],
        source=source,
        title=None,
        content_type="text/plain",
        kind=kind,
        job_id="",
        metadata={},
        ingested_at=1.0,
    )
    qdrant.upsert(
        stack.collection,
        points=[models.PointStruct(id=ids[0], vector=[0.5] * size, payload=payloads[0])],
        wait=True,
    )


def test_an_unnamed_entry_stored_by_0_1_0_is_replaced_not_duplicated(
    stack: Stack, qdrant: QdrantClient
) -> None:
    _store(stack, {"text": "ensures the collection exists"})
    vector_text = f"Upgrade check {uuid.uuid4().hex}: the Lumen ferry sails at dawn."
    vector_source = f"vector:{former_unnamed_doc_id('vector', vector_text)[:12]}"
    _former_point(stack, qdrant, "vector", vector_text, vector_source)
    text_text = f"Upgrade check {uuid.uuid4().hex}: the Corvid bell rings at noon."
    text_source = f"text:{hashlib.sha256(text_text.encode()).hexdigest()[:12]}"
    _former_point(stack, qdrant, "text", text_text, text_source)

    _store(stack, {"text": vector_text})
    _ingest(stack, {"text": text_text})

    for kind, text, source in (
        ("vector", vector_text, vector_source),
        ("text", text_text, text_source),
    ):
        found = _with(qdrant, stack, "text", text)
        assert len(found) == 1, found
        assert (found[0]["kind"], found[0]["source"]) == (kind, source)
        assert found[0]["doc_id"] != former_unnamed_doc_id(kind, text)
