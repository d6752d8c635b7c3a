"""Collection snapshots with the official client and plain HTTP: create, list, download,
delete, recover (``file://`` and loopback URL), upload, checksums, refusals, a restart.

Tests that need the snapshots directory on disk, or a refusal only the stand-in makes, are
skipped when ``SHIELD_TEST_QDRANT_URL`` names a real Qdrant."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.standins.test_qdrant.helpers import (
    MARKS,
    create_collection,
    make_points,
    standin_only,
)
from tests.standins.test_qdrant.snapshot_state import (
    assert_same_hits,
    assert_same_state,
    error_of,
    rich_collection,
    searches,
    snapshots_dir,
    state,
)
from tests.support.tokens import secret
from tests.support.wait import wait_until

pytestmark = MARKS


@pytest.fixture
def other(client: QdrantClient) -> Iterator[str]:
    """A second collection name, deleted afterwards."""
    name = f"standin_other_{uuid.uuid4().hex[:10]}"
    yield name
    if client.collection_exists(name):
        client.delete_collection(name)


@standin_only
def test_round_trip_restores_config_points_and_search(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    points = rich_collection(client, collection)
    before, hits = state(client, collection), searches(client, collection, points)
    assert before["count"] == 40 and hits[0][0][0] == str(points[3].id)

    desc = client.create_snapshot(collection)
    assert desc is not None and desc.name.startswith(f"{collection}-")
    assert desc.name.endswith(".snapshot")
    path = snapshots_dir(qdrant) / collection / desc.name
    data = path.read_bytes()
    assert (desc.size, desc.checksum) == (len(data), hashlib.sha256(data).hexdigest())
    assert path.with_name(desc.name + ".checksum").read_text().strip() == desc.checksum
    assert [s.name for s in client.list_snapshots(collection)] == [desc.name]

    # changes after the snapshot are undone by recovering over the live collection
    client.upsert(collection, points=[models.PointStruct(id=999, vector={}, payload={})])
    client.set_payload(collection, {"rank": -1}, points=[points[0].id], wait=True)
    client.delete_payload_index(collection, "rank")
    client.update_collection(
        collection, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=50)
    )
    assert state(client, collection)["count"] == 41
    location = path.as_uri()
    assert client.recover_snapshot(collection, location, checksum=desc.checksum) is True
    assert_same_state(state(client, collection), before)

    # and a deleted collection comes back from the file
    assert client.delete_collection(collection)
    assert not client.collection_exists(collection)
    assert client.recover_snapshot(collection, location, priority=models.SnapshotPriority.SNAPSHOT)
    assert_same_state(state(client, collection), before)
    assert_same_hits(searches(client, collection, points), hits)


def test_download_upload_to_another_name_url_recover_and_delete(
    qdrant: QdrantServer, client: QdrantClient, collection: str, other: str
) -> None:
    create_collection(client, collection)
    client.create_payload_index(collection, "tenant", field_schema=models.PayloadSchemaType.KEYWORD)
    points = make_points(12, seed=31)
    client.upsert(collection, points=points, wait=True)
    before = state(client, collection)
    query: Any = points[5].vector
    probe = client.query_points(collection, query=query, limit=4).points
    desc = client.create_snapshot(collection)
    assert desc is not None

    url = f"{qdrant.url}/collections/{collection}/snapshots/{desc.name}"
    got = httpx.get(url, headers=qdrant.headers(), timeout=30)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert (len(got.content), hashlib.sha256(got.content).hexdigest()) == (desc.size, desc.checksum)

    uploaded = httpx.post(
        f"{qdrant.url}/collections/{other}/snapshots/upload",
        params={"priority": "snapshot", "checksum": desc.checksum},
        files={"snapshot": (desc.name, got.content, "application/octet-stream")},
        headers=qdrant.headers(),
        timeout=60,
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["result"] is True
    assert_same_state(state(client, other), before)
    again = client.query_points(other, query=query, limit=4).points
    assert [p.id for p in again] == [p.id for p in probe]
    assert [p.score for p in again] == pytest.approx([p.score for p in probe], abs=1e-6)
    assert_same_state(state(client, collection), before)  # the source is untouched
    # as Qdrant, the upload is kept in the target's snapshots, under its file name
    assert [(s.name, s.size) for s in client.list_snapshots(other)] == [(desc.name, desc.size)]
    back = httpx.post(
        f"{qdrant.url}/collections/{collection}/snapshots/upload",
        files={"snapshot": (desc.name, got.content)},
        headers=qdrant.headers(),
        timeout=60,
    )
    assert back.status_code == 200, back.text
    listed = client.list_snapshots(collection)
    assert [(s.name, s.size, s.checksum) for s in listed] == [(desc.name, desc.size, desc.checksum)]

    # recover from the snapshot's own URL, over what the upload made
    client.delete(other, models.PointIdsList(points=[points[0].id]), wait=True)
    assert client.recover_snapshot(other, url, api_key=qdrant.api_key, checksum=desc.checksum)
    assert_same_state(state(client, other), before)

    assert client.delete_snapshot(collection, desc.name) is True
    assert desc.name not in {s.name for s in client.list_snapshots(collection)}
    gone = httpx.get(url, headers=qdrant.headers(), timeout=10)
    assert gone.status_code == 404
    assert "not found" in error_of(gone).lower()
    with pytest.raises(UnexpectedResponse) as missing:
        client.delete_snapshot(collection, desc.name)
    assert missing.value.status_code == 404


def test_checksum_mismatch_is_refused_and_nothing_changes(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    create_collection(client, collection)
    client.upsert(collection, points=make_points(6, seed=41), wait=True)
    desc = client.create_snapshot(collection)
    assert desc is not None and desc.checksum
    client.upsert(collection, points=make_points(3, seed=42), wait=True)
    changed = state(client, collection)
    assert changed["count"] == 9
    wrong = hashlib.sha256(b"not the snapshot").hexdigest()
    url = f"{qdrant.url}/collections/{collection}/snapshots/{desc.name}"

    with pytest.raises(UnexpectedResponse) as refused:
        client.recover_snapshot(collection, url, api_key=qdrant.api_key, checksum=wrong)
    assert refused.value.status_code == 400
    assert "checksum" in refused.value.content.decode().lower()
    assert_same_state(state(client, collection), changed)

    content = httpx.get(url, headers=qdrant.headers(), timeout=30).content
    uploaded = httpx.post(
        f"{qdrant.url}/collections/{collection}/snapshots/upload",
        params={"checksum": wrong},
        files={"snapshot": (desc.name, content)},
        headers=qdrant.headers(),
        timeout=60,
    )
    assert uploaded.status_code == 400
    assert "checksum" in error_of(uploaded).lower()
    assert_same_state(state(client, collection), changed)
    assert [s.checksum for s in client.list_snapshots(collection)] == [desc.checksum]


@standin_only
def test_locations_outside_the_snapshots_dir_or_off_loopback_are_refused(
    qdrant: QdrantServer, client: QdrantClient, collection: str, tmp_path: Path
) -> None:
    create_collection(client, collection)
    client.upsert(collection, points=make_points(4, seed=51), wait=True)
    desc = client.create_snapshot(collection)
    assert desc is not None
    inside = snapshots_dir(qdrant) / collection / desc.name
    outside = tmp_path / desc.name
    outside.write_bytes(inside.read_bytes())  # a valid snapshot, in the wrong place
    client.upsert(collection, points=make_points(2, seed=52), wait=True)
    changed = state(client, collection)

    refusals = {
        outside.as_uri(): "outside the snapshots directory",
        f"file://{inside.parent}/{os.path.relpath(outside, inside.parent)}": "outside",
        f"http://192.0.2.10:6333/collections/{collection}/snapshots/{desc.name}": "loopback",
        "https://example.invalid/x.snapshot": "loopback",
        "http://user:pw@127.0.0.1:1/x.snapshot": "loopback",
        "ftp://127.0.0.1/x.snapshot": "not supported",
    }
    for location, reason in refusals.items():
        answer = httpx.put(
            f"{qdrant.url}/collections/{collection}/snapshots/recover",
            json={"location": location},
            headers=qdrant.headers(),
            timeout=10,
        )
        assert answer.status_code == 400, (location, answer.text)
        assert reason in error_of(answer), location
    assert_same_state(state(client, collection), changed)
    # the same file, inside, is accepted
    assert client.recover_snapshot(collection, inside.as_uri())
    assert state(client, collection)["count"] == 4


def test_create_without_waiting_is_accepted_then_listed(
    client: QdrantClient, collection: str
) -> None:
    create_collection(client, collection)
    client.upsert(collection, points=make_points(3, seed=61), wait=True)
    assert client.create_snapshot(collection, wait=False) is None
    listed = wait_until(lambda: client.list_snapshots(collection), 30, "the snapshot listed")
    assert len(listed) == 1 and listed[0].size > 0


@standin_only
def test_snapshot_survives_a_restart(tmp_path: Path) -> None:
    key = secret(16)
    with start_qdrant(tmp_path, api_key=key, name="qdrant-snapshot-restart") as server:
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        create_collection(c, "kept")
        c.upsert("kept", points=make_points(5, seed=71), wait=True)
        before = state(c, "kept")
        desc = c.create_snapshot("kept")
        assert desc is not None
        c.close()
        server.restart()
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        assert c.list_snapshots("kept") == [desc]
        assert c.delete_collection("kept")
        path = snapshots_dir(server) / "kept" / desc.name
        assert c.recover_snapshot("kept", path.as_uri(), checksum=desc.checksum)
        assert_same_state(state(c, "kept"), before)
        c.close()


def test_recover_keeps_aliases_and_refuses_other_vectors(
    qdrant: QdrantServer, client: QdrantClient, collection: str, other: str
) -> None:
    create_collection(client, collection)
    client.upsert(collection, points=make_points(5, seed=81), wait=True)
    snapped = state(client, collection)
    desc = client.create_snapshot(collection)
    assert desc is not None
    url = f"{qdrant.url}/collections/{collection}/snapshots/{desc.name}"
    alias = f"{collection}_alias"
    client.update_collection_aliases(
        [
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        ]
    )
    client.upsert(collection, points=make_points(2, seed=82), wait=True)
    assert client.recover_snapshot(collection, url, api_key=qdrant.api_key)
    assert_same_state(state(client, collection), snapped)
    assert [a.alias_name for a in client.get_collection_aliases(collection).aliases] == [alias]

    client.create_collection(
        other, vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID)
    )
    client.upsert(other, points=[models.PointStruct(id=1, vector=[0.5] * 8)], wait=True)
    kept = state(client, other)
    with pytest.raises(UnexpectedResponse) as refused:
        client.recover_snapshot(other, url, api_key=qdrant.api_key)
    assert refused.value.status_code == 400
    assert "not compatible" in refused.value.content.decode()
    assert_same_state(state(client, other), kept)
