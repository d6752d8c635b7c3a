"""The shield.rag.qdrant_snapshots module (plugins/modules/qdrant_snapshots.py), run as Ansible
runs it, against the Qdrant stand-in (tests/standins/qdrant) started on 127.0.0.1 with an API
key for this file.

Collections and points are made and read with the official client; the module saves them to
files, the collections are changed or deleted, and the module restores them. What the module
printed, the files it left and Qdrant's state afterwards are what is checked.
"""

from __future__ import annotations

import hashlib
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.standins.test_qdrant.helpers import MARKS, create_collection, make_points, standin_only
from tests.standins.test_qdrant.snapshot_state import (
    assert_same_hits,
    assert_same_state,
    rich_collection,
    searches,
    snapshots_dir,
    state,
)
from tests.support.modules import ROOT, Modules
from tests.support.procs import free_port
from tests.support.tokens import secret

# The module needs Qdrant's snapshots directory on this host: the stand-in's.
pytestmark = [*MARKS, standin_only]

RunModule = Callable[..., dict]
MODULE = ROOT / "plugins" / "modules" / "qdrant_snapshots.py"


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    with start_qdrant(tmp_path_factory.mktemp("qdrant"), api_key=secret(16)) as server:
        yield server


@pytest.fixture
def client(qdrant: QdrantServer) -> Iterator[QdrantClient]:
    c = QdrantClient(url=qdrant.url, api_key=qdrant.api_key, prefer_grpc=False, timeout=10)
    yield c
    c.close()


@pytest.fixture
def names(client: QdrantClient) -> Iterator[Callable[[str], str]]:
    """Unique collection names for a test; the collections are deleted after it."""
    made: list[str] = []

    def name(prefix: str) -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for collection in made:
        if client.collection_exists(collection):
            client.delete_collection(collection)


@pytest.fixture
def run_module(modules: Modules, qdrant: QdrantServer) -> RunModule:
    """Runs shield.rag.qdrant_snapshots against the stand-in: run_module(args, check=...)."""

    def run(args: dict[str, Any], **kwargs: Any) -> dict:
        args = {"url": qdrant.url, "api_key": qdrant.api_key, "timeout": 30, **args}
        return modules.run("qdrant_snapshots", args, **kwargs)

    return run


def save(run_module: RunModule, dest: Path, collections: list[str], **kwargs: Any) -> dict:
    result = run_module({"state": "saved", "dest": str(dest), "collections": collections}, **kwargs)
    assert not result.get("failed"), result
    return result


def restore_args(qdrant: QdrantServer, saved: dict, collections: list[str]) -> dict[str, Any]:
    return {
        "state": "restored",
        "snapshots_dir": str(snapshots_dir(qdrant)),
        "snapshots": [
            {
                "collection": name,
                "path": saved["collections"][name]["file"],
                "sha256": saved["collections"][name]["sha256"],
            }
            for name in collections
        ],
    }


def plain_collection(client: QdrantClient, name: str) -> list[models.PointStruct]:
    points = make_points(30, seed=11)
    create_collection(client, name)
    client.upsert(name, points=points, wait=True)
    return points


def change(client: QdrantClient, name: str) -> None:
    """Changes a restore undoes: a new point, a changed payload, a deleted point."""
    first = client.scroll(name, limit=2, with_payload=False)[0]
    client.upsert(name, points=[models.PointStruct(id=987654, vector={}, payload={})], wait=True)
    client.set_payload(name, {"rank": -1}, points=[first[0].id], wait=True)
    client.delete(name, points_selector=models.PointIdsList(points=[first[1].id]), wait=True)


def leftovers(qdrant: QdrantServer) -> list[Path]:
    """Files the module may have left in Qdrant's snapshots directory."""
    return sorted(p for p in snapshots_dir(qdrant).rglob("*") if "shield-restore-" in p.name)


def test_saved_writes_checked_files_and_leaves_no_snapshot_on_the_server(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    rich, plain = names("rich"), names("plain")
    rich_collection(client, rich)
    plain_collection(client, plain)
    dest = tmp_path / "backup" / "qdrant"

    result = save(run_module, dest, [])  # empty: every collection Qdrant lists

    assert result["changed"] is True
    assert result["version"] == client.info().version
    assert {rich, plain} <= set(result["collections"])
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    for name, count in ((rich, 40), (plain, 30)):
        entry = result["collections"][name]
        path = dest / f"{name}.snapshot"
        data = path.read_bytes()
        assert entry["file"] == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
        assert entry["points_count"] == count == client.count(name).count
        assert entry["points_count_after"] == count
        assert entry["snapshot"].startswith(f"{name}-")
        assert client.list_snapshots(name) == []
        assert not (snapshots_dir(qdrant) / name / entry["snapshot"]).exists()
    vectors = result["collections"][plain]["vectors"]
    assert (vectors["size"], vectors["distance"]) == (384, "Cosine")
    assert set(result["collections"][rich]["vectors"]) == {"dense", "small"}
    assert set(result["collections"][rich]["sparse_vectors"]) == {"words"}
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        f"{n}.snapshot" for n in result["collections"]
    )
    assert qdrant.api_key not in result["_stdout"]


def test_keep_on_server_keeps_the_snapshot(
    run_module: RunModule, client: QdrantClient, names, tmp_path: Path
) -> None:
    name = names("kept")
    plain_collection(client, name)
    result = run_module(
        {"state": "saved", "dest": str(tmp_path), "collections": [name], "keep_on_server": True}
    )
    assert not result.get("failed"), result
    kept = client.list_snapshots(name)
    assert [(s.name, s.checksum) for s in kept] == [
        (result["collections"][name]["snapshot"], result["collections"][name]["sha256"])
    ]


def test_restored_brings_back_points_and_search_results(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    rich, plain = names("rich"), names("plain")
    rich_points = rich_collection(client, rich)
    plain_points = plain_collection(client, plain)
    before = {rich: state(client, rich), plain: state(client, plain)}
    hits = searches(client, rich, rich_points)
    plain_hits = client.query_points(plain, query=plain_points[4].vector, limit=10).points
    saved = save(run_module, tmp_path, [rich, plain])

    client.delete_collection(plain)
    change(client, rich)
    assert state(client, rich)["count"] == 40  # one more, one less

    result = run_module(restore_args(qdrant, saved, [rich, plain]))

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["collections"][rich]["points_count"] == 40
    assert result["collections"][plain]["points_count"] == 30
    assert_same_state(state(client, rich), before[rich])
    assert_same_state(state(client, plain), before[plain])
    assert_same_hits(searches(client, rich, rich_points), hits)
    again = client.query_points(plain, query=plain_points[4].vector, limit=10).points
    assert [(p.id, p.score) for p in again] == [(p.id, pytest.approx(p.score)) for p in plain_hits]
    assert leftovers(qdrant) == []
    assert qdrant.api_key not in result["_stdout"]


def test_a_corrupted_file_fails_before_any_change_naming_it(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    good, bad = names("good"), names("bad")
    plain_collection(client, good)
    plain_collection(client, bad)
    saved = save(run_module, tmp_path, [good, bad])
    change(client, good)
    change(client, bad)
    after_change = {good: state(client, good), bad: state(client, bad)}
    path = Path(saved["collections"][bad]["file"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    args = restore_args(qdrant, saved, [good, bad])
    args["snapshots"].append(
        {"collection": names("gone"), "path": str(tmp_path / "missing.snapshot"), "sha256": "0"}
    )

    result = run_module(args)

    assert result.get("failed") is True, result
    assert result["changed"] is False
    assert str(path) in result["msg"] and f"collection {bad}" in result["msg"]
    assert str(tmp_path / "missing.snapshot") in result["msg"]
    assert saved["collections"][bad]["sha256"] in result["msg"]
    assert result["bad_files"] == [str(path), str(tmp_path / "missing.snapshot")]
    assert saved["collections"][good]["file"] not in result["msg"]
    # neither collection was touched, the good one listed first included
    assert_same_state(state(client, good), after_change[good])
    assert_same_state(state(client, bad), after_change[bad])
    assert leftovers(qdrant) == []


def test_a_wrong_api_key_fails_naming_the_status_and_never_shows_the_key(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    name = names("key")
    plain_collection(client, name)
    saved = save(run_module, tmp_path / "ok", [name])
    wrong = "Wr0ng-" + secret(12)

    listing = run_module({"state": "saved", "dest": str(tmp_path / "a"), "api_key": wrong})
    one = run_module(
        {"state": "saved", "dest": str(tmp_path / "b"), "collections": [name], "api_key": wrong}
    )
    restore = run_module({**restore_args(qdrant, saved, [name]), "api_key": wrong})

    assert listing["failed"] is True and "HTTP 401" in listing["msg"], listing
    assert "GET /collections answered HTTP 401: Invalid API key" in listing["msg"]
    assert one["failed"] is True, one
    assert f"collection {name}: GET /collections/{name} answered HTTP 401" in one["msg"]
    assert restore["failed"] is True, restore
    assert "GET /collections answered HTTP 401" in restore["msg"]
    assert restore["changed"] is False  # asked before the first copy
    for result in (listing, one, restore):
        assert wrong not in result["_stdout"]
        assert qdrant.api_key not in result["_stdout"]
    assert not (tmp_path / "b" / f"{name}.snapshot").exists()
    assert leftovers(qdrant) == []


def test_a_refused_recovery_names_qdrants_error_and_removes_the_copy(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    first, second = names("first"), names("second")
    plain_collection(client, first)
    plain_collection(client, second)
    saved = save(run_module, tmp_path, [first, second])
    before = state(client, first)
    # a collection of other vectors: Qdrant refuses to recover the snapshot over it
    client.delete_collection(second)
    client.create_collection(
        second, vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT)
    )

    result = run_module(restore_args(qdrant, saved, [first, second]))

    assert result["failed"] is True, result
    assert result["msg"].startswith(
        f"collection {second}: PUT /collections/{second}/snapshots/recover?wait=true "
        "answered HTTP 400: "
    )
    assert "not compatible" in result["msg"]  # Qdrant's status.error
    assert result["changed"] is True
    assert list(result["collections"]) == [first]  # restored before it
    assert_same_state(state(client, first), before)
    assert leftovers(qdrant) == []  # the copy is removed when the recovery fails


def test_qdrant_errors_and_connection_errors_are_named(
    run_module: RunModule, names, tmp_path: Path
) -> None:
    missing = names("missing")
    result = run_module({"state": "saved", "dest": str(tmp_path), "collections": [missing]})
    assert result["failed"] is True, result
    assert f"collection {missing}: GET /collections/{missing} answered HTTP 404" in result["msg"]
    assert "doesn't exist" in result["msg"]  # Qdrant's status.error

    url = f"http://127.0.0.1:{free_port()}"
    result = run_module({"state": "saved", "dest": str(tmp_path), "url": url})
    assert result["failed"] is True, result
    assert f"cannot reach Qdrant at {url}/" in result["msg"]


def test_check_mode_changes_nothing(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    name = names("check")
    plain_collection(client, name)
    dest = tmp_path / "never"

    checked = save(run_module, dest, [name], check=True)

    assert checked["changed"] is True
    assert checked["collections"][name]["points_count"] == 30
    assert checked["collections"][name]["file"] == str(dest / f"{name}.snapshot")
    assert "sha256" not in checked["collections"][name]
    assert not dest.exists()
    assert client.list_snapshots(name) == []
    assert list((snapshots_dir(qdrant) / name).glob("*")) == []

    saved = save(run_module, tmp_path / "real", [name])
    change(client, name)
    changed = state(client, name)
    result = run_module(restore_args(qdrant, saved, [name]), check=True)
    assert not result.get("failed"), result
    assert (result["changed"], result["collections"]) == (True, {})
    assert_same_state(state(client, name), changed)
    assert leftovers(qdrant) == []

    # check mode checks the files too
    Path(saved["collections"][name]["file"]).write_bytes(b"not a snapshot")
    result = run_module(restore_args(qdrant, saved, [name]), check=True)
    assert result["failed"] is True and saved["collections"][name]["file"] in result["msg"]


def test_restored_refuses_an_unknown_owner_or_a_missing_snapshots_dir(
    run_module: RunModule, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    name = names("owner")
    plain_collection(client, name)
    saved = save(run_module, tmp_path, [name])
    change(client, name)
    changed = state(client, name)

    owner = run_module({**restore_args(qdrant, saved, [name]), "owner": "no-such-user-x"})
    elsewhere = run_module({**restore_args(qdrant, saved, [name]), "snapshots_dir": "/nonexistent"})

    assert owner["failed"] is True and "no-such-user-x" in owner["msg"], owner
    assert elsewhere["failed"] is True and "/nonexistent" in elsewhere["msg"], elsewhere
    assert owner["changed"] is False and elsewhere["changed"] is False
    assert_same_state(state(client, name), changed)


def test_ansible_packs_the_module_with_its_module_utils(
    modules: Modules, client: QdrantClient, qdrant: QdrantServer, names, tmp_path: Path
) -> None:
    """Through ``ansible -m``: AnsiballZ finds qdrant_api and the http_probe it imports."""
    name = names("adhoc")
    plain_collection(client, name)
    args = {
        "url": qdrant.url,
        "api_key": qdrant.api_key,
        "state": "saved",
        "dest": str(tmp_path / "adhoc"),
        "collections": [name],
    }
    result = modules.adhoc("qdrant_snapshots", args, check=True)
    assert not result.get("failed"), result
    assert result["collections"][name]["points_count"] == 30
    assert qdrant.api_key not in result["_stdout"]
    assert not (tmp_path / "adhoc").exists()
