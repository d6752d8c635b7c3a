"""Start-up of the entry points: a service that cannot start says why and exits 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from shield_rag import startup
from shield_rag.lightrag_service.main import main as lightrag_main
from shield_rag.orchestrator.main import main as orchestrator_main
from shield_rag.settings import ConfigError
from shield_rag.worker.main import main as worker_main


@startup.entry_point("shield-test")
def _main(problem: Exception | None) -> int:
    if problem is not None:
        raise problem
    return 0


def test_a_refusal_is_one_line_on_stderr_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(startup.Refused("port 1 is taken")) == startup.EXIT_REFUSED == 2
    assert capsys.readouterr().err == "shield-test: port 1 is taken\n"
    assert _main(None) == 0


def test_a_configuration_error_is_a_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    def start() -> int:
        with startup.config_errors():
            raise ConfigError("worker.concurrency: must be at least 1")

    assert startup.entry_point("shield-test")(start)() == 2
    assert "shield-test: worker.concurrency: must be at least 1" in capsys.readouterr().err


def test_other_errors_are_not_refusals() -> None:
    with pytest.raises(ConfigError):
        _main(ConfigError("raised outside config_errors()"))
    with pytest.raises(RuntimeError):
        _main(RuntimeError("a bug"))


@pytest.mark.parametrize(
    ("main", "prog"),
    [
        (orchestrator_main, "shield-orchestrator"),
        (worker_main, "shield-worker"),
        (lightrag_main, "shield-lightrag"),
    ],
)
def test_services_refuse_a_bad_settings_file(
    main: Callable[[list[str]], int], prog: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shield.yml"
    path.write_text(yaml.safe_dump({"worker": {"concurrency": 0}}), encoding="utf-8")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: ")
    assert "worker.concurrency" in err
