"""Settings: the example file, environment overrides and the MCP server's own settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shield_rag.settings import (
    CONFIG_ENV,
    ConfigError,
    McpServiceSettings,
    Settings,
    load_settings,
)
from tests.support.settings import EXAMPLE, config_with, settings_sections, write_file

pytestmark = pytest.mark.usefixtures("clean_shield_env")


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
    for name, model in settings_sections():
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
    path = write_file(tmp_path, config_with(worker={"concurrency": 2, "max_attempts": 7}))
    monkeypatch.setenv("SHIELD_WORKER__CONCURRENCY", "4")
    monkeypatch.setenv("SHIELD_REDIS__URL", "redis://127.0.0.1:6380/1")
    s = load_settings(path)
    assert s.worker.concurrency == 4
    assert s.worker.max_attempts == 7  # the rest of the section still comes from the file
    assert s.redis.url == "redis://127.0.0.1:6380/1"


def test_env_supplies_keys_the_file_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = config_with()
    del data["redis"]
    monkeypatch.setenv("SHIELD_REDIS__URL", "rediss://cache.example:6380/0")
    monkeypatch.setenv("SHIELD_ORCHESTRATOR__API_KEY", "a-long-enough-orchestrator-key")
    monkeypatch.setenv("SHIELD_CRAWL__ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    s = load_settings(write_file(tmp_path, data))
    assert s.redis.url == "rediss://cache.example:6380/0"
    assert s.orchestrator.api_key is not None
    assert s.orchestrator.api_key.get_secret_value() == "a-long-enough-orchestrator-key"
    assert s.crawl.allowed_networks == ["10.0.0.0/8"]


def test_env_only_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIELD_REDIS__URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SHIELD_QDRANT__URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("SHIELD_OLLAMA__URL", "http://127.0.0.1:11434")
    assert load_settings().redis.url == "redis://127.0.0.1:6379/0"


# -- the MCP server's settings ------------------------------------------------------------------


def test_mcp_server_needs_no_backend_sections(tmp_path: Path) -> None:
    path = write_file(tmp_path, {"mcp": {"orchestrator_url": "http://10.0.0.5:8600"}})
    s = load_settings(path, McpServiceSettings)
    assert s.redis is None
    assert str(s.mcp.orchestrator_url).startswith("http://10.0.0.5:8600")
    with pytest.raises(ConfigError, match="redis: Field required"):
        load_settings(path)


def test_mcp_server_still_checks_backend_sections_when_present(tmp_path: Path) -> None:
    path = write_file(tmp_path, {"redis": {"url": "http://wrong"}})
    with pytest.raises(ConfigError, match=r"redis\.url"):
        load_settings(path, McpServiceSettings)
