"""Installed models: manifests and blobs laid out as Ollama lays out ``OLLAMA_MODELS``.

``blobs/sha256-<hex>`` hold the layers; ``manifests/registry.ollama.ai/library/<model>/<tag>``
the manifests (OCI image manifests, as Ollama writes them). A model's config blob carries
``standin_kind`` ("embedding" or "llm"): the stand-in has no weights, its "model" layer is a
short placeholder text (a pulled model) or the uploaded file (a created one).

Without a directory the same layout lives in memory (nothing survives a restart).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "registry.ollama.ai"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
MODEL_LAYER = "application/vnd.ollama.image.model"
LAYER_TYPES = {
    "template": "application/vnd.ollama.image.template",
    "system": "application/vnd.ollama.image.system",
    "params": "application/vnd.ollama.image.params",
}
DIGEST_HEX = 64


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def valid_digest(digest: str) -> bool:
    algo, _unused, hexpart = digest.replace("-", ":", 1).partition(":")
    return (
        algo == "sha256"
        and len(hexpart) == DIGEST_HEX
        and all(c in "0123456789abcdefABCDEF" for c in hexpart)
    )


_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def valid_name(model: str) -> bool:
    """Whether every part of the name is one Ollama accepts (no path tricks either)."""
    if not model or (model.count(":") > 1 and "/" not in model):
        return False
    return all(_PART_RE.fullmatch(part) for part in split_name(model))


def split_name(model: str) -> tuple[str, str, str, str]:
    """(host, namespace, model, tag) of a name, with Ollama's defaults."""
    name, _unused, tag = model.rpartition(":") if ":" in model.split("/")[-1] else (model, "", "")
    parts = name.split("/")
    if len(parts) == 1:
        return HOST, "library", parts[0], tag or "latest"
    if len(parts) == 2:
        return HOST, parts[0], parts[1], tag or "latest"
    return parts[0], parts[1], "/".join(parts[2:]), tag or "latest"


def short_name(host: str, namespace: str, model: str, tag: str) -> str:
    if host == HOST and namespace == "library":
        return f"{model}:{tag}"
    if host == HOST:
        return f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def canonical(model: str) -> str:
    return short_name(*split_name(model))


@dataclass
class Installed:
    name: str
    kind: str
    digest: str  # the manifest's digest (hex), as /api/tags shows it
    size: int
    modified_at: datetime
    config: dict[str, Any]
    layers: dict[str, bytes]  # "template"/"system"/"params" layer contents


class Store:
    """Manifests and blobs under ``root`` (None: in memory)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._mem: dict[str, bytes] = {}
        self._mtime: dict[str, float] = {}
        if root is not None:
            (root / "blobs").mkdir(parents=True, exist_ok=True)
            (root / "manifests").mkdir(parents=True, exist_ok=True)

    # -- the file layer: a directory or a dict ------------------------------------------------
    def _put(self, rel: str, data: bytes) -> None:
        if self.root is None:
            self._mem[rel] = data
            self._mtime[rel] = datetime.now(UTC).timestamp()
            return
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def _get(self, rel: str) -> bytes | None:
        if self.root is None:
            return self._mem.get(rel)
        try:
            return (self.root / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _drop(self, rel: str) -> None:
        if self.root is None:
            self._mem.pop(rel, None)
            return
        (self.root / rel).unlink(missing_ok=True)

    def _modified(self, rel: str) -> float:
        if self.root is None:
            return self._mtime.get(rel, 0.0)
        return (self.root / rel).stat().st_mtime

    def _manifest_paths(self) -> list[str]:
        if self.root is None:
            return sorted(k for k in self._mem if k.startswith("manifests/"))
        base = self.root / "manifests"
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    # -- blobs --------------------------------------------------------------------------------
    @staticmethod
    def blob_rel(digest: str) -> str:
        return "blobs/" + digest.replace(":", "-", 1)

    def has_blob(self, digest: str) -> bool:
        if self.root is None:
            return self.blob_rel(digest) in self._mem
        return (self.root / self.blob_rel(digest)).is_file()

    def blob(self, digest: str) -> bytes | None:
        return self._get(self.blob_rel(digest))

    def put_blob(self, data: bytes) -> tuple[str, int]:
        digest = sha256_digest(data)
        if not self.has_blob(digest):
            self._put(self.blob_rel(digest), data)
        return digest, len(data)

    async def receive_blob(self, chunks: AsyncIterator[bytes], expected: str) -> str:
        """Store a streamed upload if its sha256 is ``expected``; return the actual digest."""
        hasher = hashlib.sha256()
        if self.root is None:
            buf = bytearray()
            async for chunk in chunks:
                hasher.update(chunk)
                buf += chunk
            actual = "sha256:" + hasher.hexdigest()
            if actual == expected:
                self._put(self.blob_rel(actual), bytes(buf))
            return actual
        fd, tmp = tempfile.mkstemp(dir=self.root / "blobs", prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in chunks:
                    hasher.update(chunk)
                    fh.write(chunk)
            actual = "sha256:" + hasher.hexdigest()
            if actual == expected:
                os.replace(tmp, self.root / self.blob_rel(actual))
            return actual
        finally:
            Path(tmp).unlink(missing_ok=True)

    # -- manifests ----------------------------------------------------------------------------
    @staticmethod
    def manifest_rel(model: str) -> str:
        """The manifest's path in the store; ValueError for a name Ollama would refuse."""
        if not valid_name(model):
            raise ValueError(f"invalid model name {model!r}")
        return "manifests/" + "/".join(split_name(model))

    def write_model(
        self, model: str, kind: str, weights: bytes | str, extra: dict[str, Any] | None = None
    ) -> list[tuple[str, int]]:
        """Install ``model``: its weights (bytes, or the digest of a stored blob), the optional
        template/system/params layers, a config blob and the manifest. Returns the layers."""
        layers: list[dict[str, Any]] = []
        if isinstance(weights, bytes):
            digest, size = self.put_blob(weights)
        else:
            digest, size = weights, len(self.blob(weights) or b"")
        layers.append({"mediaType": MODEL_LAYER, "digest": digest, "size": size})
        for key, value in (extra or {}).items():
            if value in (None, "", {}):
                continue
            data = value if isinstance(value, bytes) else str(value).encode()
            if key == "params":
                data = json.dumps(value, sort_keys=True).encode()
            d, s = self.put_blob(data)
            layers.append({"mediaType": LAYER_TYPES[key], "digest": d, "size": s})
        family = "bert" if kind == "embedding" else "standin"
        config = {
            "model_format": "gguf",
            "model_family": family,
            "model_families": [family],
            "model_type": "0",
            "file_type": "F32",
            "architecture": "amd64",
            "os": "linux",
            "standin_kind": kind,
        }
        cdigest, csize = self.put_blob(json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": cdigest, "size": csize},
            "layers": layers,
        }
        self._put(self.manifest_rel(model), json.dumps(manifest).encode())
        return [(entry["digest"], entry["size"]) for entry in layers]

    def get(self, model: str) -> Installed | None:
        if not valid_name(model):
            return None
        rel = self.manifest_rel(model)
        raw = self._get(rel)
        if raw is None:
            return None
        try:
            manifest = json.loads(raw)
            config = json.loads(self.blob(manifest["config"]["digest"]) or b"{}")
        except (ValueError, KeyError, TypeError):
            return None
        layers: dict[str, bytes] = {}
        for entry in manifest.get("layers", []):
            for key, media in LAYER_TYPES.items():
                if entry.get("mediaType") == media:
                    layers[key] = self.blob(entry["digest"]) or b""
        return Installed(
            name=canonical(model),
            kind=str(config.get("standin_kind") or "llm"),
            digest=hashlib.sha256(raw).hexdigest(),
            size=sum(int(e.get("size", 0)) for e in manifest.get("layers", [])),
            modified_at=datetime.fromtimestamp(self._modified(rel), UTC),
            config=config,
            layers=layers,
        )

    def names(self) -> list[str]:
        out = []
        for rel in self._manifest_paths():
            parts = rel.split("/")[1:]
            if len(parts) >= 4:
                out.append(short_name(parts[0], parts[1], "/".join(parts[2:-1]), parts[-1]))
        return sorted(out)

    def weights_digest(self, model: str) -> str | None:
        """The digest of the model layer of an installed model."""
        if not valid_name(model):
            return None
        try:
            manifest = json.loads(self._get(self.manifest_rel(model)) or b"{}")
            return next(
                str(e["digest"]) for e in manifest["layers"] if e["mediaType"] == MODEL_LAYER
            )
        except (ValueError, KeyError, TypeError, StopIteration):
            return None

    def copy(self, source: str, destination: str) -> bool:
        if not valid_name(source):
            return False
        raw = self._get(self.manifest_rel(source))
        if raw is None:
            return False
        self._put(self.manifest_rel(destination), raw)
        return True

    def delete(self, model: str) -> bool:
        """Remove the manifest and the blobs no other manifest uses (as Ollama prunes)."""
        if not valid_name(model):
            return False
        rel = self.manifest_rel(model)
        raw = self._get(rel)
        if raw is None:
            return False
        self._drop(rel)
        try:
            manifest = json.loads(raw)
            mine = {manifest["config"]["digest"], *(e["digest"] for e in manifest["layers"])}
        except (ValueError, KeyError, TypeError):
            return True
        used: set[str] = set()
        for other in self._manifest_paths():
            try:
                m = json.loads(self._get(other) or b"{}")
                used |= {m["config"]["digest"], *(e["digest"] for e in m["layers"])}
            except (ValueError, KeyError, TypeError):
                continue
        for digest in mine - used:
            self._drop(self.blob_rel(digest))
        return True
