"""Settings from a real Qdrant ``config.yaml`` and ``QDRANT__*`` environment overrides."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG: dict[str, Any] = {
    "log_level": "INFO",
    "telemetry_disabled": False,
    "storage": {"storage_path": "./storage", "snapshots_path": "./snapshots"},
    "service": {
        "host": "0.0.0.0",
        "http_port": 6333,
        "grpc_port": 6334,
        "api_key": None,
        "read_only_api_key": None,
        "enable_tls": False,
    },
    "tls": {"cert": None, "key": None},
}


@dataclass
class Settings:
    host: str = "0.0.0.0"
    http_port: int = 6333
    grpc_port: int | None = 6334
    api_key: str | None = None
    read_only_api_key: str | None = None
    storage_path: Path = Path("./storage")
    snapshots_path: Path = Path("./snapshots")
    log_level: str = "INFO"
    telemetry_disabled: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    sources: list[str] = field(default_factory=list)


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _key_or_none(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def load_settings(config_path: str | None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then ``config/config.yaml`` (or ``--config-path``), then ``QDRANT__*`` env."""
    environ = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = json.loads(json.dumps(DEFAULT_CONFIG))
    sources: list[str] = []
    path = Path(config_path) if config_path else Path("config/config.yaml")
    if config_path or path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"{path}: a Qdrant config must be a YAML mapping")
        _merge(raw, loaded)
        sources.append(str(path))
    for name, value in sorted(environ.items()):
        if not name.startswith("QDRANT__"):
            continue
        keys = [part.lower() for part in name[len("QDRANT__") :].split("__") if part]
        node = raw
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if keys:
            node[keys[-1]] = yaml.safe_load(value) if value != "" else ""
            sources.append(name)
    service, storage, tls = raw["service"], raw["storage"], raw.get("tls") or {}
    tls_on = bool(service.get("enable_tls"))
    grpc_port = service.get("grpc_port")
    return Settings(
        host=str(service.get("host") or "0.0.0.0"),
        http_port=int(service.get("http_port") or 6333),
        grpc_port=int(grpc_port) if grpc_port not in (None, "") else None,
        api_key=_key_or_none(service.get("api_key")),
        read_only_api_key=_key_or_none(service.get("read_only_api_key")),
        storage_path=Path(str(storage.get("storage_path") or "./storage")),
        snapshots_path=Path(str(storage.get("snapshots_path") or "./snapshots")),
        log_level=str(raw.get("log_level") or "INFO"),
        telemetry_disabled=bool(raw.get("telemetry_disabled")),
        tls_cert=tls.get("cert") if tls_on else None,
        tls_key=tls.get("key") if tls_on else None,
        sources=sources,
    )
