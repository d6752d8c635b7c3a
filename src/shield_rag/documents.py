"""What an indexed chunk is, for whoever writes one (the ingest workers, ``POST /vectors``)
and whoever reads one (``POST /search``): the ids that make indexing idempotent, and the
payload stored with the chunk's vector in Qdrant.

Ids are deterministic: a document's id is a hash of its kind and identity (a URL, a file's
bytes, a text's source), and a chunk's point id is ``uuid5(namespace, "<doc_id>:<index>")``,
so a job that runs twice, or a document ingested again, overwrites its own points instead
of duplicating them.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

# Namespace for point ids: uuid5(namespace, "<doc_id>:<chunk_index>") is the same on every
# retry, so a job that runs twice overwrites its own points instead of duplicating them.
POINT_NAMESPACE = uuid.UUID("6f1c1f55-8f0e-4a57-9a8e-5b1f7cde2a11")


def doc_id_for(kind: str, identity: str | bytes) -> str:
    raw = identity.encode() if isinstance(identity, str) else identity
    return hashlib.sha256(kind.encode() + b"\0" + raw).hexdigest()[:32]


def entry_doc_id(kind: str, source: str | None, text: str) -> str:
    """The id of a text entry of ``kind`` (``POST /vectors``, a text job): from its source
    when it has one, so that storing the same source again replaces it; from its text
    otherwise, in a namespace of its own, so that a text never takes the id of an entry whose
    source reads the same (the two shared one up to 0.1.0, and the later write replaced the
    other entry)."""
    if source:
        return doc_id_for(kind, source)
    return doc_id_for(f"{kind}:unnamed", text)


def former_unnamed_doc_id(kind: str, text: str) -> str:
    """The id 0.1.0 gave an entry of ``kind`` stored without a source (the named entries'
    namespace). Storing the same text again removes what was stored under it, with the
    unnamed entry's own source, so an upgraded host keeps one copy of the entry."""
    return doc_id_for(kind, text)


def point_id(doc_id: str, chunk_index: int) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}:{chunk_index}"))


def chunk_points(
    doc_id: str,
    chunks: list[str],
    *,
    source: str,
    title: str | None,
    content_type: str,
    kind: str,
    job_id: str,
    metadata: dict[str, Any],
    ingested_at: float,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The point ids and payloads of a document's chunks, in order."""
    ids = [point_id(doc_id, i) for i in range(len(chunks))]
    payloads = [
        {
            "text": chunk,
            "doc_id": doc_id,
            "chunk_index": i,
            "chunk_count": len(chunks),
            "source": source,
            "title": title,
            "content_type": content_type,
            "kind": kind,
            "job_id": job_id,
            "ingested_at": ingested_at,
            "metadata": metadata,
        }
        for i, chunk in enumerate(chunks)
    ]
    return ids, payloads
