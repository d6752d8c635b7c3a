"""Settings: field descriptions and the generated docs/configuration.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tools import settings_doc
from tools.settings_doc import REGENERATE, render_markdown

from shield_rag.settings import CONFIG_ENV, Settings
from tests.support.settings import DOC, EXAMPLE, settings_sections, write_file

pytestmark = pytest.mark.usefixtures("clean_shield_env")


# -- descriptions and the generated document ---------------------------------------------------


def test_every_field_has_a_one_sentence_description() -> None:
    fields = [("", name, f) for name, f in Settings.model_fields.items()]
    fields += [
        (f"{s}.", k, f) for s, model in settings_sections() for k, f in model.model_fields.items()
    ]
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
    for name, model in settings_sections():
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
    fresh = write_file(tmp_path, render_markdown(), "fresh.md")
    assert settings_doc.main(["--check", "--path", str(fresh)]) == 0
    assert "up to date" in capsys.readouterr().out

    stale = write_file(tmp_path, render_markdown().replace("Redis", "Valkey"), "stale.md")
    assert settings_doc.main(["--check", "--path", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "stale" in err
    assert REGENERATE in err

    assert settings_doc.main(["--check", "--path", str(tmp_path / "absent.md")]) == 1
    assert REGENERATE in capsys.readouterr().err
