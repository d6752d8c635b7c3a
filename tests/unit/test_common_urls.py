"""shield.rag.common's `urls` entry point, which the Python service roles' `validate` entry
points run before any change: it refuses exactly the URLs the services' settings refuse
(pydantic's AnyHttpUrl, as shield-check-config reads them), so a malformed URL stops the play
even on a new host, where the service's own check cannot run yet. The task's expression is
rendered by Ansible's templar for each candidate, and compared with the settings model."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
import yaml
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from tests.support.modules import ROOT
from tests.support.templar import in_ansible

TASK = "Stop before any change when a URL is malformed"

ACCEPTED = [
    "http://127.0.0.1:6333",
    "http://qdrant:6333",
    "https://rag.example.org",
    "https://rag.example.org/api/?x=1#top",
    "HTTPS://Ollama.Internal:11434/",
    "http://[::1]:9621",
    "http://[fd00::5]/",
    "http://user:pass@10.0.0.5:6333",
    "http://qdrant_1:6333",
    "http://10.0.0.5:65535",
]
REFUSED = [
    "qdrant:6333",
    "127.0.0.1:6333",
    "ftp://10.0.0.5/",
    "http://",
    "http://host:99999",
    "http://host:65536",
    "http://host:port",
    "http://exa mple.com",
    "not a url",
    "",
]

_EVALUATE = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
job = json.load(sys.stdin)
out = []
for value in job["values"]:
    variables = {**job["vars"], "_common_urls": [{"name": "a_url", "value": value}]}
    templar = Templar(loader=DataLoader(), variables=variables)
    out.append(templar.template(trust_as_template(job["expression"])))
json.dump(out, sys.stdout)
"""


@functools.cache
def _refused_by_the_role() -> dict[str, bool]:
    tasks = yaml.safe_load((ROOT / "roles/common/tasks/urls.yml").read_text(encoding="utf-8"))
    task: dict[str, Any] = next(t for t in tasks if t["name"] == TASK)
    job = {
        "vars": {"__common_url_pattern": task["vars"]["__common_url_pattern"]},
        "expression": task["vars"]["__common_bad_urls"],
        "values": ACCEPTED + REFUSED,
    }
    bad = in_ansible(_EVALUATE, job)
    return {url: b != [] for url, b in zip(ACCEPTED + REFUSED, bad, strict=True)}


def _refused_by_the_settings(url: str) -> bool:
    try:
        TypeAdapter(AnyHttpUrl).validate_python(url)
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("url", ACCEPTED + REFUSED)
def test_the_role_and_the_settings_judge_each_url_alike(url: str) -> None:
    assert _refused_by_the_role()[url] == _refused_by_the_settings(url)
    assert _refused_by_the_role()[url] == (url in REFUSED)


def test_the_message_masks_the_user_information() -> None:
    tasks = yaml.safe_load((ROOT / "roles/common/tasks/urls.yml").read_text(encoding="utf-8"))
    task = next(t for t in tasks if t["name"] == TASK)
    job = {
        "vars": {"__common_url_pattern": task["vars"]["__common_url_pattern"]},
        "expression": task["vars"]["__common_bad_urls"],
        "values": ["ftp://admin:hunter2-secret@10.0.0.5/"],
    }
    (bad,) = in_ansible(_EVALUATE, job)
    assert bad == ["a_url is " + json.dumps("ftp://***@10.0.0.5/")]
