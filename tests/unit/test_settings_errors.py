"""Settings errors: bad keys and values named, unreadable or malformed files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shield_rag.settings import CONFIG_ENV, ConfigError, load_settings
from tests.support.settings import MINIMAL, config_error, config_with, write_file

pytestmark = pytest.mark.usefixtures("clean_shield_env")


# -- errors name the key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (config_with(worker={"heartbeat_secs": 1}), "worker.heartbeat_secs"),
        (config_with(qdrant={"colection": "x"}), "qdrant.colection"),
        ({**MINIMAL, "redis_url": "redis://127.0.0.1:6379/0"}, "redis_url"),
    ],
)
def test_unknown_key_is_named(tmp_path: Path, data: dict[str, Any], key: str) -> None:
    message = config_error(tmp_path, data)
    assert f"{key}: unknown key" in message
    assert "docs/configuration.md" in message


def test_unknown_key_in_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIELD_WORKER__CONCURENCY", "4")
    with pytest.raises(ConfigError, match=r"worker\.concurency: unknown key"):
        load_settings(write_file(tmp_path, config_with()))


@pytest.mark.parametrize("section", ["redis", "qdrant", "ollama"])
def test_missing_required_key_is_named(tmp_path: Path, section: str) -> None:
    message = config_error(tmp_path, config_with(**{section: {"url": None}}))
    assert f"{section}.url: Field required" in message
    assert str(tmp_path / "shield.yml") in message  # and the file it came from


def test_missing_required_section_is_named(tmp_path: Path) -> None:
    data = config_with()
    del data["qdrant"]
    assert "qdrant: Field required" in config_error(tmp_path, data)


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
    message = config_error(tmp_path, config_with(**sections))
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, message
    assert fragment in line


@pytest.mark.parametrize("key", ["SHIELD_ORCHESTRATOR__API_KEY", "SHIELD_LIGHTRAG__API_KEY"])
def test_weak_api_key_from_env_is_named_but_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv(key, "Sup3rSecr3t")
    with pytest.raises(ConfigError) as info:
        load_settings(write_file(tmp_path, config_with()))
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
    path = write_file(tmp_path, config_with(worker=worker))
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
    message = config_error(tmp_path, config_with(**sections))
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
    message = config_error(tmp_path, text)
    assert "must hold a mapping at the top level" in message
    assert str(tmp_path / "shield.yml") in message


@pytest.mark.parametrize("text", ["redis: [unclosed\n", "redis:\n  url: a\n url: b\n", "a: b: c\n"])
def test_invalid_yaml(tmp_path: Path, text: str) -> None:
    message = config_error(tmp_path, text)
    assert message.startswith(f"configuration file {tmp_path / 'shield.yml'} is not valid YAML")
    assert "line" in message  # the parser's position helps find the mistake


def test_empty_file_reports_the_required_sections(tmp_path: Path) -> None:
    message = config_error(tmp_path, "")
    for section in ("redis", "qdrant", "ollama"):
        assert f"{section}: Field required" in message


def test_config_error_does_not_chain_a_validation_dump(tmp_path: Path) -> None:
    message = config_error(tmp_path, config_with(orchestrator={"port": 0}))
    assert message.splitlines()[0] == f"invalid Shield configuration ({tmp_path / 'shield.yml'}):"
    assert "pydantic" not in message  # no links to pydantic's error pages
