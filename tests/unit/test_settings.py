"""Settings: the example file, environment overrides, error messages and the generated doc."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from tools import settings_doc
from tools.settings_doc import REGENERATE, render_markdown

from shield_rag.settings import (
    CONFIG_ENV,
    ConfigError,
    McpServiceSettings,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "shield.yml"
DOC = ROOT / "docs" / "configuration.md"

MINIMAL: dict[str, Any] = {
    "redis": {"url": "redis://127.0.0.1:6379/0"},
    "qdrant": {"url": "http://127.0.0.1:6333"},
    "ollama": {"url": "http://127.0.0.1:11434"},
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SHIELD_* variable of the developer's shell may leak into a test."""
    for name in list(os.environ):
        if name.upper().startswith("SHIELD_"):
            monkeypatch.delenv(name)


def _sections() -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type)
        assert issubclass(field.annotation, BaseModel)
        out.append((name, field.annotation))
    return out


def _write(tmp_path: Path, data: Any, name: str = "shield.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _config(**sections: dict[str, Any]) -> dict[str, Any]:
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


def _error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, data))
    return str(info.value)


# -- the example file ---------------------------------------------------------------------------


def test_example_loads() -> None:
    s = load_settings(EXAMPLE)
    assert s.redis.url == "redis://127.0.0.1:6379/0"
    assert str(s.qdrant.url) == "http://127.0.0.1:6333/"
    assert str(s.ollama.url) == "http://127.0.0.1:11434/"
    assert s.lightrag.url.port == s.lightrag_service.port == 9621
    assert s.orchestrator.port == 8600
    for host in (
        s.lightrag_service.host,
        s.lightrag_service.metrics_host,
        s.orchestrator.host,
        s.orchestrator.metrics_host,
        s.worker.metrics_host,
        s.lightrag.url.host,
        s.qdrant.url.host,
        s.ollama.url.host,
    ):
        assert host == "127.0.0.1"
    assert s.qdrant.api_key is None
    assert s.lightrag.api_key is None
    assert s.orchestrator.api_key is None


def test_example_loads_through_shield_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE))
    assert load_settings() == load_settings(EXAMPLE)


def test_example_lists_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    loaded = load_settings(EXAMPLE)
    assert set(data) == set(Settings.model_fields)
    for name, model in _sections():
        section = getattr(loaded, name)
        for key, field in model.model_fields.items():
            if key in data[name]:
                if not field.is_required():
                    default = field.get_default(call_default_factory=True)
                    assert getattr(section, key) == default, f"{name}.{key} differs from default"
            else:  # shown commented out (the secrets)
                assert re.search(rf"^\s+#\s*{key}:", text, re.M), f"{name}.{key} missing"


def test_example_has_no_secret_values() -> None:
    for number, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if "${" in line:
            assert line.index("#") < line.index("${"), f"line {number}: placeholder as a value"
        assert not re.match(r"^\s*api_key:", line), f"line {number}: api_key set"


# -- environment overrides ----------------------------------------------------------------------


def test_env_overrides_a_nested_key_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, _config(worker={"concurrency": 2, "max_attempts": 7}))
    monkeypatch.setenv("SHIELD_WORKER__CONCURRENCY", "4")
    monkeypatch.setenv("SHIELD_REDIS__URL", "redis://127.0.0.1:6380/1")
    s = load_settings(path)
    assert s.worker.concurrency == 4
    assert s.worker.max_attempts == 7  # the rest of the section still comes from the file
    assert s.redis.url == "redis://127.0.0.1:6380/1"


def test_env_supplies_keys_the_file_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _config()
    del data["redis"]
    monkeypatch.setenv("SHIELD_REDIS__URL", "rediss://cache.example:6380/0")
    monkeypatch.setenv("SHIELD_ORCHESTRATOR__API_KEY", "a-long-enough-orchestrator-key")
    monkeypatch.setenv("SHIELD_CRAWL__ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    s = load_settings(_write(tmp_path, data))
    assert s.redis.url == "rediss://cache.example:6380/0"
    assert s.orchestrator.api_key is not None
    assert s.orchestrator.api_key.get_secret_value() == "a-long-enough-orchestrator-key"
    assert s.crawl.allowed_networks == ["10.0.0.0/8"]


def test_env_only_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIELD_REDIS__URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SHIELD_QDRANT__URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("SHIELD_OLLAMA__URL", "http://127.0.0.1:11434")
    assert load_settings().redis.url == "redis://127.0.0.1:6379/0"


# -- errors name the key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (_config(worker={"heartbeat_secs": 1}), "worker.heartbeat_secs"),
        (_config(qdrant={"colection": "x"}), "qdrant.colection"),
        ({**MINIMAL, "redis_url": "redis://127.0.0.1:6379/0"}, "redis_url"),
    ],
)
def test_unknown_key_is_named(tmp_path: Path, data: dict[str, Any], key: str) -> None:
    message = _error(tmp_path, data)
    assert f"{key}: unknown key" in message
    assert "docs/configuration.md" in message


def test_unknown_key_in_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIELD_WORKER__CONCURENCY", "4")
    with pytest.raises(ConfigError, match=r"worker\.concurency: unknown key"):
        load_settings(_write(tmp_path, _config()))


@pytest.mark.parametrize("section", ["redis", "qdrant", "ollama"])
def test_missing_required_key_is_named(tmp_path: Path, section: str) -> None:
    message = _error(tmp_path, _config(**{section: {"url": None}}))
    assert f"{section}.url: Field required" in message
    assert str(tmp_path / "shield.yml") in message  # and the file it came from


def test_missing_required_section_is_named(tmp_path: Path) -> None:
    data = _config()
    del data["qdrant"]
    assert "qdrant: Field required" in _error(tmp_path, data)


@pytest.mark.parametrize(
    ("sections", "key", "fragment"),
    [
        ({"redis": {"url": "http://127.0.0.1:6379"}}, "redis.url", "redis://"),
        ({"orchestrator": {"port": 0}}, "orchestrator.port", "greater than or equal to 1"),
        ({"lightrag_service": {"port": 70000}}, "lightrag_service.port", "less than"),
        ({"orchestrator": {"api_key": "changeme"}}, "orchestrator.api_key", "16 characters"),
        ({"lightrag": {"api_key": "x" * 15}}, "lightrag.api_key", "16 characters"),
        ({"qdrant": {"url": "ftp://127.0.0.1"}}, "qdrant.url", "URL scheme"),
        ({"qdrant": {"distance": "Manhattan"}}, "qdrant.distance", "'Cosine'"),
        ({"worker": {"concurrency": "many"}}, "worker.concurrency", "valid integer"),
        ({"crawl": {"allowed_networks": ["intranet"]}}, "crawl.allowed_networks", "CIDR"),
        ({"logging": {"level": "VERBOSE"}}, "logging.level", "'INFO'"),
    ],
)
def test_invalid_value_is_named(
    tmp_path: Path, sections: dict[str, dict[str, Any]], key: str, fragment: str
) -> None:
    message = _error(tmp_path, _config(**sections))
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, message
    assert fragment in line


@pytest.mark.parametrize("key", ["SHIELD_ORCHESTRATOR__API_KEY", "SHIELD_LIGHTRAG__API_KEY"])
def test_weak_api_key_from_env_is_named_but_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv(key, "Sup3rSecr3t")
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, _config()))
    message = str(info.value)
    assert key.removeprefix("SHIELD_").replace("__", ".").lower() in message
    assert "Sup3rSecr3t" not in message


@pytest.mark.parametrize(
    ("worker", "ok"),
    [
        ({"heartbeat_seconds": 16, "claim_idle_seconds": 30}, False),
        ({"heartbeat_seconds": 15, "claim_idle_seconds": 30}, True),
        ({"heartbeat_seconds": 5, "claim_idle_seconds": 9}, False),
    ],
)
def test_heartbeat_must_be_at_most_half_of_claim_idle(
    tmp_path: Path, worker: dict[str, Any], ok: bool
) -> None:
    path = _write(tmp_path, _config(worker=worker))
    if ok:
        assert load_settings(path).worker.heartbeat_seconds == worker["heartbeat_seconds"]
        return
    with pytest.raises(ConfigError, match=r"worker: .*heartbeat_seconds.*claim_idle_seconds"):
        load_settings(path)


@pytest.mark.parametrize(
    ("sections", "fragment"),
    [
        ({"chunking": {"max_chars": 200, "overlap_chars": 200}}, "overlap_chars"),
        ({"crawl": {"default_max_pages": 300}}, "default_max_pages"),
        ({"lightrag_service": {"metrics_port": 9621}}, "metrics_port"),
    ],
)
def test_cross_key_checks_name_section_and_key(
    tmp_path: Path, sections: dict[str, dict[str, Any]], fragment: str
) -> None:
    (section,) = sections
    message = _error(tmp_path, _config(**sections))
    assert f"{section}: " in message
    assert fragment in message


# -- file errors --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match="cannot read configuration file") as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert "No such file" in str(info.value)


def test_missing_file_named_by_shield_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.yml"))
    with pytest.raises(ConfigError, match=r"cannot read configuration file .*absent\.yml"):
        load_settings()


@pytest.mark.parametrize("text", ["- redis\n- qdrant\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert "must hold a mapping at the top level" in message
    assert str(tmp_path / "shield.yml") in message


@pytest.mark.parametrize("text", ["redis: [unclosed\n", "redis:\n  url: a\n url: b\n", "a: b: c\n"])
def test_invalid_yaml(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert message.startswith(f"configuration file {tmp_path / 'shield.yml'} is not valid YAML")
    assert "line" in message  # the parser's position helps find the mistake


def test_empty_file_reports_the_required_sections(tmp_path: Path) -> None:
    message = _error(tmp_path, "")
    for section in ("redis", "qdrant", "ollama"):
        assert f"{section}: Field required" in message


def test_config_error_does_not_chain_a_validation_dump(tmp_path: Path) -> None:
    message = _error(tmp_path, _config(orchestrator={"port": 0}))
    assert message.splitlines()[0] == f"invalid Shield configuration ({tmp_path / 'shield.yml'}):"
    assert "pydantic" not in message  # no links to pydantic's error pages


# -- descriptions and the generated document ---------------------------------------------------


def test_every_field_has_a_one_sentence_description() -> None:
    fields = [("", name, f) for name, f in Settings.model_fields.items()]
    fields += [(f"{s}.", k, f) for s, model in _sections() for k, f in model.model_fields.items()]
    for prefix, key, field in fields:
        text = field.description or ""
        assert text.strip(), f"{prefix}{key} has no description"
        assert text.endswith("."), f"{prefix}{key}: end the description with a full stop"
        assert "\n" not in text, f"{prefix}{key}: keep the description on one line"
        assert not re.search(r"\.\s+[A-Z]", text), f"{prefix}{key}: one sentence only"


def test_section_readers_cover_every_section() -> None:
    assert set(settings_doc.SECTION_READERS) == set(Settings.model_fields)
    for readers in settings_doc.SECTION_READERS.values():
        assert readers
        assert set(readers) <= set(settings_doc.SERVICES)


def test_document_lists_every_key() -> None:
    text = render_markdown()
    for name, model in _sections():
        assert f"\n## {name}\n" in text
        for key, field in model.model_fields.items():
            row = next(ln for ln in text.splitlines() if ln.startswith(f"| `{name}.{key}` |"))
            assert row.count(" | ") >= 3
            assert ("**required**" in row) == field.is_required()


def test_document_does_not_depend_on_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = render_markdown()
    monkeypatch.setenv("SHIELD_WORKER__CONCURRENCY", "9")
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE))
    assert render_markdown() == before


def test_configuration_md_is_in_sync() -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    assert current == render_markdown(), (
        f"docs/configuration.md is out of date with src/shield_rag/settings/; "
        f"regenerate it from the repository root with: {REGENERATE}"
    )


def test_main_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert settings_doc.main([]) == 0
    assert capsys.readouterr().out == render_markdown()


def test_main_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = _write(tmp_path, render_markdown(), "fresh.md")
    assert settings_doc.main(["--check", "--path", str(fresh)]) == 0
    assert "up to date" in capsys.readouterr().out

    stale = _write(tmp_path, render_markdown().replace("Redis", "Valkey"), "stale.md")
    assert settings_doc.main(["--check", "--path", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    assert REGENERATE in err

    assert settings_doc.main(["--check", "--path", str(tmp_path / "absent.md")]) == 1
    assert REGENERATE in capsys.readouterr().err


def test_mcp_server_needs_no_backend_sections(tmp_path: Path) -> None:
    path = _write(tmp_path, {"mcp": {"orchestrator_url": "http://10.0.0.5:8600"}})
    s = load_settings(path, McpServiceSettings)
    assert s.redis is None
    assert str(s.mcp.orchestrator_url).startswith("http://10.0.0.5:8600")
    with pytest.raises(ConfigError, match="redis: Field required"):
        load_settings(path)


def test_mcp_server_still_checks_backend_sections_when_present(tmp_path: Path) -> None:
    path = _write(tmp_path, {"redis": {"url": "http://wrong"}})
    with pytest.raises(ConfigError, match=r"redis\.url"):
        load_settings(path, McpServiceSettings)
