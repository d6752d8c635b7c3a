"""Sphinx configuration of the collection's docsite (`make docs`).

`make docs` assembles the source tree under the build directory: antsibull-docs writes the
collection's pages (roles from their argument_specs, modules, filters, the pages of
docs/docsite/rst) under collections/, the guides of docs/ are copied to guides/ as they are,
and index.rst is this directory's. The build reads nothing from the network (no intersphinx):
references into Ansible's own docs become plain links to docs.ansible.com.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from pygments.lexers.special import TextLexer

_GALAXY = yaml.safe_load((Path(__file__).resolve().parents[3] / "galaxy.yml").read_text())

project = f"{_GALAXY['namespace']}.{_GALAXY['name']}"
copyright = ", ".join(_GALAXY["authors"])
version = release = _GALAXY["version"]
title = "Shield RAG collection"
html_short_title = project

extensions = ["sphinx_antsibull_ext", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
html_use_modindex = False
html_use_index = False
html_copy_source = False

# The guides link to sections by their GitHub anchors (deploy.md#concurrency-with-ollama).
myst_heading_anchors = 4

# Where links to Ansible's own docs and to the repository's files point.
ANSIBLE_DOCS = "https://docs.ansible.com/ansible/latest/"
ANSIBLE_LABELS = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
}
BUILTIN_LABEL = re.compile(r"ansible_collections\.ansible\.builtin\.(\w+)")
REPOSITORY_FILES = _GALAXY["repository"].rstrip("/") + "/blob/main/"

# A Markdown link, [text](target), and a role's README among the link targets.
MD_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
ROLE_README = re.compile(r"roles/(\w+)/README\.md")


def _guide_links(app: Any, docname: str, source: list[str]) -> None:
    """Point a guide's links out of docs/ at the docsite's role pages or the repository.

    The guides live in docs/ and link to roles/*/README.md and other files of the repository
    by relative paths; in the docsite they sit under guides/.
    """
    if not docname.startswith("guides/"):
        return
    here = posixpath.dirname(docname)  # guides or guides/benchmarks
    in_repo = "docs" + here.removeprefix("guides")

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "mailto:")):
            return match.group(0)
        path, _sep, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(in_repo, path))
        if resolved == "docs" or resolved.startswith("docs/"):
            return match.group(0)
        role = ROLE_README.fullmatch(resolved)
        if role:
            page = f"collections/shield/rag/{role.group(1)}_role.rst"
            new = posixpath.relpath(page, here)
        else:
            new = REPOSITORY_FILES + resolved + (f"#{anchor}" if anchor else "")
        return f"{match.group(1)}{new}{match.group(3)}"

    source[0] = MD_LINK.sub(rewrite, source[0])


def _ansible_docs_reference(
    app: Any, env: Any, node: Any, contnode: nodes.Node
) -> nodes.reference | None:
    """A reference to a page of Ansible's docs (ansible.builtin.file, common return values)."""
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    target = node["reftarget"]
    page = ANSIBLE_LABELS.get(target)
    builtin = BUILTIN_LABEL.fullmatch(target)
    if builtin:
        page = f"collections/ansible/builtin/{builtin.group(1)}.html"
    if page is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=ANSIBLE_DOCS + page)
    reference.append(contnode)
    return reference


def setup(app: Any) -> None:
    app.connect("source-read", _guide_links)
    app.connect("missing-reference", _ansible_docs_reference)
    # A guide's ```conf block (redis.conf lines): shown as it is, without a lexer of its own.
    app.add_lexer("conf", TextLexer)
