"""The docsite (`make docs`) covers the collection: every playbook on its page, every guide in its
index. antsibull-docs checks the rest (`make docs-lint`): role, module and filter docs, the
references of docs/docsite/rst."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCSITE = ROOT / "docs" / "docsite"


def _diff(shown: set[str], real: set[str]) -> str:
    return f"missing: {sorted(real - shown)}; not there: {sorted(shown - real)}"


def _toctree_entries(rst: str) -> list[str]:
    """The entries of every toctree directive of an RST page."""
    entries: list[str] = []
    for block in re.findall(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)", rst, re.M):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                entries.append(line)
    return entries


def test_the_playbooks_page_names_every_playbook_and_no_other() -> None:
    page = (DOCSITE / "rst" / "playbooks.rst").read_text(encoding="utf-8")
    # Playbooks are named as code (``shield.rag.site``), roles and modules linked (:ansplugin:).
    named = set(re.findall(r"``shield\.rag\.(\w+)``", page))
    playbooks = {p.stem for p in (ROOT / "playbooks").glob("*.yml")}
    assert named == playbooks, _diff(named, playbooks)


def test_extra_docs_index_lists_the_pages_of_docsite_rst() -> None:
    index = yaml.safe_load((DOCSITE / "extra-docs.yml").read_text(encoding="utf-8"))
    refs = {ref for section in index["sections"] for ref in section["toctree"]}
    pages = {p.stem for p in (DOCSITE / "rst").glob("*.rst")}
    assert refs == pages


def test_the_docsite_index_lists_every_guide() -> None:
    """A guide left out of the index fails `make docs` (sphinx-build -W); this test, at once."""
    entries = _toctree_entries((DOCSITE / "sphinx" / "index.rst").read_text(encoding="utf-8"))
    guides = {
        "guides/" + p.relative_to(ROOT / "docs").with_suffix("").as_posix()
        for p in (ROOT / "docs").rglob("*.md")
        if DOCSITE not in p.parents
    }
    listed = {entry for entry in entries if entry.startswith("guides/")}
    assert listed == guides, _diff(listed, guides)
    assert "collections/shield/rag/index" in entries
