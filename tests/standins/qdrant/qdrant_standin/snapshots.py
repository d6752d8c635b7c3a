"""Collection snapshots: the stand-in's own snapshot file, written, checked and restored.

A snapshot is ``<snapshots_path>/<collection>/<collection>-<id>-<timestamp>.snapshot`` with a
``.checksum`` sidecar (its SHA-256 in hex), as Qdrant lays them out. Inside, it is the
stand-in's own format (Qdrant's cannot be reproduced): an uncompressed tar archive holding

- ``manifest.json``: ``format`` (``qdrant-standin-snapshot``), ``version`` (1), the source
  ``collection``, ``points_count`` and ``config``: ``vectors`` and ``sparse_vectors`` (as in
  ``CreateCollection``), ``metadata``, and ``standin_meta`` (the HNSW/optimizer/WAL settings and
  payload index schemas that the engine keeps beside local mode's data);
- ``points.jsonl``: one ``{"id", "vector", "payload"}`` object per line, every vector included.

``create`` and ``restore`` run under the engine's lock, so no update interleaves with them.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import secrets
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import TypeAdapter, ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http import models

from .engine import Engine, dump
from .errors import QdrantError

FORMAT, VERSION = "qdrant-standin-snapshot", 1
MANIFEST, POINTS = "manifest.json", "points.jsonl"
SUFFIX, CHECKSUM_SUFFIX = ".snapshot", ".checksum"
PAGE = 256


@dataclass
class Snapshot:
    """A snapshot file's contents, checked and parsed."""

    collection: str
    vectors: models.VectorParams | dict[str, models.VectorParams] | None
    sparse_vectors: dict[str, models.SparseVectorParams] | None
    metadata: dict[str, Any] | None
    standin_meta: dict[str, Any]
    points: list[models.PointStruct]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_checksum(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected.strip().lower():
        raise QdrantError(
            400, f"Bad request: Snapshot checksum mismatch: expected {expected}, got {actual}"
        )


class SnapshotStore:
    """The snapshots directory: one subdirectory per collection."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def collection_dir(self, name: str) -> Path:
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            raise QdrantError(400, f"Bad request: invalid collection name `{name}`")
        return self.root / name

    def path(self, collection: str, snapshot_name: str) -> Path:
        """The snapshot file, which must exist; a name is a plain file name, never a path."""
        bad = snapshot_name in ("", ".", "..") or "/" in snapshot_name or "\\" in snapshot_name
        path = self.collection_dir(collection) / snapshot_name
        if bad or not path.is_file():
            raise QdrantError(404, f"Not found: Snapshot {snapshot_name} not found")
        return path

    def describe(self, path: Path) -> models.SnapshotDescription:
        stat = path.stat()
        sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
        checksum = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else None
        created = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return models.SnapshotDescription(
            name=path.name, creation_time=created, size=stat.st_size, checksum=checksum
        )

    def listing(self, collection: str) -> list[models.SnapshotDescription]:
        folder = self.collection_dir(collection)
        files = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
        return [self.describe(p) for p in files if p.is_file()]

    def delete(self, collection: str, snapshot_name: str) -> bool:
        path = self.path(collection, snapshot_name)
        path.unlink()
        path.with_name(path.name + CHECKSUM_SUFFIX).unlink(missing_ok=True)
        return True

    def temp_file(self) -> Path:
        """A new, empty file in the snapshots directory (for uploads and downloads)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".incoming-", suffix=SUFFIX)
        os.close(fd)
        return Path(name)

    def local_file(self, location: str) -> Path:
        """A ``file://`` location's path, which must be a file inside the snapshots directory."""
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise QdrantError(400, f"Bad request: file URL {location} must not name a host")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise QdrantError(
                400,
                f"Bad request: Snapshot file {path} is outside the snapshots directory "
                f"{self.root.resolve()}; only snapshots inside it can be recovered",
            )
        if not path.is_file():
            raise QdrantError(404, f"Not found: Snapshot file {path} does not exist")
        return path

    # -- under the engine's lock
    def create(self, engine: Engine, client: QdrantClient, name: str) -> models.SnapshotDescription:
        engine.require_collection(client, name)
        config = client.get_collection(name).config
        points: list[bytes] = []
        offset: Any = None
        while True:
            page, offset = client.scroll(
                name, limit=PAGE, offset=offset, with_payload=True, with_vectors=True
            )
            for record in page:
                row = {"id": record.id, "vector": record.vector, "payload": record.payload}
                points.append(json.dumps(dump(row), separators=(",", ":")).encode() + b"\n")
            if offset is None:
                break
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "collection": name,
            "points_count": len(points),
            "config": {
                "vectors": dump(config.params.vectors),
                "sparse_vectors": dump(config.params.sparse_vectors),
                "metadata": dump(config.metadata),
                "standin_meta": json.loads(json.dumps(engine.meta.get(name, {}))),
            },
        }
        now = datetime.now(UTC)
        snapshot_name = f"{name}-{secrets.randbits(48)}-{now:%Y-%m-%d-%H-%M-%S}{SUFFIX}"
        folder = self.collection_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / snapshot_name
        partial = folder / f".{snapshot_name}.partial"
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, MANIFEST, json.dumps(manifest, indent=1).encode(), now)
            _add(tar, POINTS, b"".join(points), now)
        checksum = sha256_file(partial)
        final.with_name(snapshot_name + CHECKSUM_SUFFIX).write_text(checksum, encoding="utf-8")
        os.replace(partial, final)
        return self.describe(final)


def _add(tar: tarfile.TarFile, name: str, data: bytes, when: datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(when.timestamp()), 0o644
    tar.addfile(info, io.BytesIO(data))


def read_snapshot(path: Path) -> Snapshot:
    """Parse and check a snapshot file; 400 if it is not one the stand-in wrote."""
    try:
        with tarfile.open(path, "r:") as tar:
            manifest = json.loads(_member(tar, MANIFEST))
            if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
                raise ValueError(f"not a {FORMAT} version {VERSION} file")
            lines = _member(tar, POINTS).splitlines()
        config = manifest["config"]
        points = [models.PointStruct.model_validate_json(line) for line in lines if line]
        if len(points) != manifest["points_count"]:
            raise ValueError(f"{len(points)} points, the manifest says {manifest['points_count']}")
        vectors_type = models.VectorParams | dict[str, models.VectorParams] | None
        return Snapshot(
            collection=str(manifest["collection"]),
            vectors=TypeAdapter(vectors_type).validate_python(config["vectors"]),
            sparse_vectors=TypeAdapter(dict[str, models.SparseVectorParams] | None).validate_python(
                config.get("sparse_vectors")
            ),
            metadata=config.get("metadata"),
            standin_meta=dict(config.get("standin_meta") or {}),
            points=points,
        )
    except (tarfile.TarError, OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        raise QdrantError(
            400, f"Bad request: invalid snapshot {path.name}: {type(exc).__name__}: {exc}"
        ) from exc


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise ValueError(f"{name} is not a regular file")
    return member.read()


def restore(engine: Engine, client: QdrantClient, name: str, snap: Snapshot) -> bool:
    """Replace collection ``name`` (or create it) with exactly the snapshot's config and points;
    call under the engine's lock. As Qdrant, an existing collection must have the snapshot's
    vectors (names, sizes, distances) and keeps its aliases."""
    aliases: list[str] = []
    if client.collection_exists(name):
        check_compatible(client.get_collection(name).config.params, snap)
        aliases = [a.alias_name for a in client.get_collection_aliases(name).aliases]
        client.delete_collection(name)
    client.create_collection(
        name,
        vectors_config=snap.vectors or {},
        sparse_vectors_config=snap.sparse_vectors,
        metadata=snap.metadata,
    )
    for start in range(0, len(snap.points), PAGE):
        client.upsert(name, snap.points[start : start + PAGE])
    meta = json.loads(json.dumps(snap.standin_meta))
    for field_name, schema in meta.get("payload_indexes", {}).items():
        index = TypeAdapter(models.PayloadFieldSchema).validate_python(schema)
        client.create_payload_index(name, field_name, field_schema=index)
    engine.meta[name] = meta
    engine.save_meta()
    if aliases:
        client.update_collection_aliases(
            [
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=name, alias_name=alias)
                )
                for alias in aliases
            ]
        )
    return True


def check_compatible(params: models.CollectionParams, snap: Snapshot) -> None:
    """Qdrant's rule for recovering over an existing collection: the same vectors."""

    def shape(vectors: Any, sparse: Any) -> dict[str, Any]:
        named = {"": vectors} if isinstance(vectors, models.VectorParams) else vectors or {}
        dense = {
            k: (v.size, v.distance, dump(v.multivector_config), v.datatype)
            for k, v in named.items()
        }
        return {"dense": dense, "sparse": sorted(sparse or {})}

    have = shape(params.vectors, params.sparse_vectors)
    want = shape(snap.vectors, snap.sparse_vectors)
    if have != want:
        raise QdrantError(
            400,
            "Bad request: Snapshot is not compatible with existing collection: "
            f"Collection vectors: {have} Snapshot vectors: {want}",
        )


def loopback_url(location: str) -> str:
    """An ``http(s)://`` location on this machine's loopback, with ``localhost`` spelled
    ``127.0.0.1`` so that nothing is resolved; any other address is refused."""
    parts = urlsplit(location)
    host = (parts.hostname or "").lower()
    if host == "localhost":
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=f"127.0.0.1{port}"))
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or parts.username or parts.password:
        raise QdrantError(
            400,
            f"Bad request: the Qdrant stand-in only recovers snapshots from loopback URLs "
            f"(127.0.0.0/8, [::1], localhost), not {location}",
        )
    return location
