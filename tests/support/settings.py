"""Helpers of the settings tests: the example file, a minimal configuration, writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from shield_rag.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "shield.yml"
DOC = ROOT / "docs" / "configuration.md"

MINIMAL: dict[str, Any] = {
    "redis": {"url": "redis://127.0.0.1:6379/0"},
    "qdrant": {"url": "http://127.0.0.1:6333"},
    "ollama": {"url": "http://127.0.0.1:11434"},
}


def settings_sections() -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        assert issubclass(field.annotation, BaseModel)
        out.append((name, field.annotation))
    return out


def write_file(tmp_path: Path, data: Any, name: str = "shield.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def config_with(**sections: dict[str, Any]) -> dict[str, Any]:
    """MINIMAL with some sections updated (a value of None removes the key)."""
    data = {name: dict(values) for name, values in MINIMAL.items()}
    for name, values in sections.items():
        section = data.setdefault(name, {})
        for key, value in values.items():
            if value is None:
                section.pop(key, None)
            else:
                section[key] = value
    return data


def config_error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(write_file(tmp_path, data))
    return str(info.value)
