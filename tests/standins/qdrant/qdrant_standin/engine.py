"""Storage: qdrant-client's local mode engine behind one lock, with an ordered update queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from qdrant_client import QdrantClient
from qdrant_client.http import models
from starlette.concurrency import run_in_threadpool

from .errors import QdrantError, translate_error

log = logging.getLogger("qdrant_standin")


def dump(value: Any) -> Any:
    return to_jsonable_python(value)


class Engine:
    """qdrant-client's local mode behind one lock, plus an ordered queue for updates.

    Local mode is not thread-safe, so every call holds ``_lock``. Updates run one at a time on
    a single writer thread in arrival order; ``wait=true`` awaits them, ``wait=false`` returns
    ``acknowledged`` at once, as Qdrant does. What local mode does not keep (payload index
    schemas, HNSW/optimizer/WAL settings) is kept in ``standin_meta.json`` next to its data.
    """

    META_FILE = "standin_meta.json"

    def __init__(self, storage_path: Path) -> None:
        self.storage_path = storage_path
        storage_path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # local mode's advice to users of the library, not news for a server's log
        for advice in ("Payload indexes have no effect", "Local mode is not recommended"):
            warnings.filterwarnings("ignore", message=advice)
        self.client = QdrantClient(path=str(storage_path), force_disable_check_same_thread=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-update")
        self._meta_path = storage_path / self.META_FILE
        self.meta: dict[str, dict[str, Any]] = {}
        if self._meta_path.is_file():
            self.meta = json.loads(self._meta_path.read_text(encoding="utf-8")).get(
                "collections", {}
            )
        self._op_ids: dict[str, int] = {}
        self._op_ids_lock = threading.Lock()
        self.closed = False

    # -- plumbing
    def locked(self, fn: Callable[[QdrantClient], Any]) -> Any:
        with self._lock:
            if self.closed:
                raise QdrantError(503, "Service unavailable: the stand-in is shutting down")
            return fn(self.client)

    async def read(self, fn: Callable[[QdrantClient], Any]) -> Any:
        return await run_in_threadpool(self.locked, fn)

    async def write(self, fn: Callable[[QdrantClient], Any]) -> Any:
        """Run an update in order and wait for it."""
        return await asyncio.wrap_future(self._writer.submit(self.locked, fn))

    async def update(
        self, collection: str, fn: Callable[[QdrantClient], Any], wait: bool
    ) -> models.UpdateResult:
        """A point/index update: ``UpdateResult`` completed, or acknowledged if not waiting."""
        await self.read(lambda c: self.require_collection(c, collection))
        with self._op_ids_lock:
            op_id = self._op_ids.get(collection, 0)
            self._op_ids[collection] = op_id + 1
        future = self._writer.submit(self.locked, fn)
        if not wait:
            future.add_done_callback(_log_failed_update)
            return models.UpdateResult(operation_id=op_id, status=models.UpdateStatus.ACKNOWLEDGED)
        await asyncio.wrap_future(future)
        return models.UpdateResult(operation_id=op_id, status=models.UpdateStatus.COMPLETED)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            if not self.closed:
                self.closed = True
                self.client.close()

    # -- helpers used under the lock
    @staticmethod
    def require_collection(client: QdrantClient, name: str) -> None:
        if not client.collection_exists(name):
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")

    def save_meta(self) -> None:
        tmp = self._meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"collections": self.meta}, indent=1), encoding="utf-8")
        os.replace(tmp, self._meta_path)

    def collection_meta(self, name: str) -> dict[str, Any]:
        return self.meta.setdefault(name, {})

    def collection_info(self, client: QdrantClient, name: str) -> models.CollectionInfo:
        info = client.get_collection(name)
        meta = self.meta.get(name, {})
        schema: dict[str, models.PayloadIndexInfo] = {}
        for field_name, stored in meta.get("payload_indexes", {}).items():
            index = TypeAdapter(models.PayloadFieldSchema).validate_python(stored)
            data_type = index if isinstance(index, models.PayloadSchemaType) else index.type
            present = models.Filter(
                must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field_name))]
            )
            points = client.count(name, count_filter=present, exact=True).count
            schema[field_name] = models.PayloadIndexInfo(
                data_type=models.PayloadSchemaType(_enum_value(data_type)),
                params=None if isinstance(index, models.PayloadSchemaType) else index,
                points=points,
            )
        info.payload_schema = schema
        info.indexed_vectors_count = info.points_count
        config = info.config
        for key, attr, model in (
            ("hnsw_config", "hnsw_config", models.HnswConfig),
            ("optimizers_config", "optimizer_config", models.OptimizersConfig),
            ("wal_config", "wal_config", models.WalConfig),
        ):
            if meta.get(key):
                with contextlib.suppress(ValidationError):
                    merged = {**dump(getattr(config, attr)), **meta[key]}
                    setattr(config, attr, model.model_validate(merged))
        return info


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _log_failed_update(future: Any) -> None:
    if future.exception() is not None:
        log.error("Error processing request: %s", translate_error(future.exception()).message)
