"""shield-check-config: the validate command the roles run on every settings file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shield_rag.check_config import main, parse_env_file
from shield_rag.settings import ConfigError

BASE = {
    "redis": {"url": "redis://127.0.0.1:6379/0"},
    "qdrant": {"url": "http://127.0.0.1:6333"},
    "ollama": {"url": "http://127.0.0.1:11434"},
}


def _write(tmp_path: Path, data: dict, env: str | None = None) -> list[str]:
    cfg = tmp_path / "svc.yml"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    args = [str(cfg)]
    if env is not None:
        env_path = tmp_path / "svc.env"
        env_path.write_text(env, encoding="utf-8")
        args += ["--env-file", str(env_path)]
    return args


def test_quoted_values_are_unescaped_like_systemd() -> None:
    text = '# secrets\nA=plain\nB="with \\"quote\\" and \\\\ slash"\n\nC="x=y"\n'
    assert parse_env_file(text) == {"A": "plain", "B": 'with "quote" and \\ slash', "C": "x=y"}


def test_a_line_without_a_key_is_named() -> None:
    with pytest.raises(ConfigError, match="line 2"):
        parse_env_file("A=1\nnot a pair\n")


def test_valid_file_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_write(tmp_path, BASE), "--service", "orchestrator"]) == 0
    assert "valid settings for shield-orchestrator" in capsys.readouterr().out


def test_bad_value_fails_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = {**BASE, "worker": {"concurrency": 0}}
    assert main([*_write(tmp_path, data), "--service", "worker"]) == 2
    assert "worker.concurrency" in capsys.readouterr().err


def test_environment_file_overrides_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, BASE, env='SHIELD_ORCHESTRATOR__API_KEY="short"\n')
    assert main([*args, "--service", "orchestrator"]) == 2
    assert "orchestrator.api_key" in capsys.readouterr().err


def test_mcp_on_a_public_address_needs_the_token_from_the_env_file(tmp_path: Path) -> None:
    data = {"mcp": {"host": "0.0.0.0"}}
    assert main([*_write(tmp_path, data), "--service", "mcp"]) == 2
    token = 'SHIELD_MCP__AUTH_TOKEN="Zq8vN3kW7pR2xL5mT9bY"\n'
    assert main([*_write(tmp_path, data, env=token), "--service", "mcp"]) == 0


def test_release_info_names_the_installed_version_and_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib import metadata

    from shield_rag.settings import SETTINGS_SCHEMA

    assert main(["--release-info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == metadata.version("shield-rag")
    assert info["settings_schema"] == SETTINGS_SCHEMA
    assert info["python"].count(".") == 2


@pytest.mark.parametrize("argv", [["--release-info", "x.yml"], ["x.yml"], ["--service", "mcp"]])
def test_release_info_and_checking_do_not_mix(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
