"""Qdrant requests built without a client: a search's filter and the bodies of the batch
requests that store a document or entries and delete the points they replace.

Built as qdrant-client's models (filters, selectors) or as the plain JSON qdrant-client would
send (``points_batch``): :mod:`shield_rag.clients.vectorstore` sends them.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import models

from shield_rag.api.search import FilterValue, filter_path


class FilterError(ValueError):
    """A search filter a person must fix."""


def build_filter(filters: dict[str, FilterValue] | None) -> models.Filter | None:
    """Turn ``{"source": "a", "chunk_index": {"gte": 2}, "doc_id": ["x", "y"]}`` into a Filter.

    A scalar matches exactly, a list matches any of its values, a mapping with any of
    ``gt gte lt lte`` is a range. Metadata given at ingest time is under ``metadata.<key>``.
    """
    if not filters:
        return None
    must: list[models.Condition] = []
    for name, value in filters.items():
        try:
            key = filter_path(name)
        except ValueError as exc:
            raise FilterError(str(exc)) from None
        if isinstance(value, dict):
            unknown = set(value) - {"gt", "gte", "lt", "lte"}
            if unknown or not value:
                raise FilterError(
                    f"filter {name!r}: a range takes gt/gte/lt/lte, got {sorted(value)}"
                )
            must.append(models.FieldCondition(key=key, range=models.Range(**value)))
        elif isinstance(value, list):
            if not value or len(value) > 100:
                raise FilterError(f"filter {name!r}: give 1 to 100 values to match any of")
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=value)))
        elif isinstance(value, float):
            must.append(models.FieldCondition(key=key, range=models.Range(gte=value, lte=value)))
        else:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
    return models.Filter(must=must)


def stale_chunks(doc_id: str, keep: int) -> models.FilterSelector:
    """The chunks of ``doc_id`` with an index of ``keep`` or more."""
    return models.FilterSelector(
        filter=models.Filter(
            must=[
                models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
                models.FieldCondition(key="chunk_index", range=models.Range(gte=keep)),
            ]
        )
    )


def points_of(doc_id: str, source: str) -> models.FilterSelector:
    """The points of ``doc_id`` stored under ``source``: an unnamed entry's points under the
    id 0.1.0 gave it (:func:`shield_rag.documents.former_unnamed_doc_id`), and not an entry
    named like its text, which has that id too but another source."""
    return models.FilterSelector(
        filter=models.Filter(
            must=[
                models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)),
                models.FieldCondition(key="source", match=models.MatchValue(value=source)),
            ]
        )
    )


def points_batch(
    ids: list[str],
    vectors: list[list[float]],
    payloads: list[dict[str, Any]],
    deletes: list[models.FilterSelector],
) -> dict[str, Any]:
    """The body qdrant-client sends for ``batch_update_points`` with the points upserted,
    then the points each of ``deletes`` selects deleted; built as plain JSON, without a model
    per point and float (a third of the worker's CPU per document went into qdrant-client's
    models and encoder)."""
    points = [
        {"id": i, "vector": v, "payload": p} for i, v, p in zip(ids, vectors, payloads, strict=True)
    ]
    return {
        "operations": [
            {"upsert": {"points": points}},
            *(
                {
                    "delete": selector.model_dump(
                        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
                    )
                }
                for selector in deletes
            ),
        ]
    }


def document_batch(
    doc_id: str,
    ids: list[str],
    vectors: list[list[float]],
    payloads: list[dict[str, Any]],
    former: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The batch storing a document's points (``ids[i]`` is chunk ``i``), then deleting its
    chunks past the last one and, given ``former`` (a doc id and a source), the points
    :func:`points_of` selects."""
    deletes = [stale_chunks(doc_id, len(ids))]
    if former is not None:
        deletes.append(points_of(*former))
    return points_batch(ids, vectors, payloads, deletes)
