"""shield.rag.qdrant's snapshot before a release switch (roles/qdrant/tasks/upgrade_snapshot.yml),
run for real by ansible-playbook on localhost against the Qdrant stand-in, which implements
Qdrant's snapshot REST API: every collection is snapshotted into
<qdrant_data_dir>/snapshots/<collection>/ and reported; check mode lists and reports but takes
none; a refused request stops the play with a message; a stopped Qdrant is reported, not
snapshotted. The API key never reaches the output. The filters are found by their FQCN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.support.localplay import LOCAL, run_play

KEY = "Upgr4de-Snapshot-Key-9Wq2Lm7Zx"
COLLECTIONS = ("docs", "notes")

PLAY = """\
- name: Snapshot before a release switch
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the upgrade path through the collection's filters
      ansible.builtin.debug:
        msg: >-
          PATH {{ [link ~ ': links to /opt/qdrant/1.17.3/qdrant, not ' ~ wanted]
          | shield.rag.qdrant_linked_version(link, wanted, '/opt/qdrant')
          | shield.rag.qdrant_upgrade_path('1.19.1') | to_json }}
      vars:
        link: /usr/local/bin/qdrant
        wanted: /opt/qdrant/1.19.1/qdrant

    - name: Snapshot
      ansible.builtin.include_role:
        name: shield.rag.qdrant
        tasks_from: upgrade_snapshot
"""


def play(tmp: Path, server: QdrantServer, *, key: str, ready: int, check: bool) -> str:
    """Run the play once for host `localhost`; the whole output, with the recap."""
    data_dir = server.config_path.parent.parent if server.config_path else tmp
    host_vars = {
        **LOCAL,
        "qdrant_api_url": server.url,
        "qdrant_data_dir": str(data_dir),
        "__qdrant_upgrade": {"current": "1.18.4", "wanted": "1.19.1", "kind": "minor"},
        "__qdrant_upgrade_from": "1.18.4",
        "__qdrant_live_ready": {"status": ready},
        "__qdrant_live_api_key": key,
    }
    inventory = {"all": {"hosts": {"localhost": host_vars}}}
    return run_play(tmp, PLAY, inventory, args=("--check",) if check else ()).output


def recap(output: str) -> dict[str, int]:
    found = re.search(r"^localhost\s+: ok=(\d+)\s+changed=(\d+).*failed=(\d+)", output, re.M)
    assert found, output
    return {"ok": int(found[1]), "changed": int(found[2]), "failed": int(found[3])}


def snapshots(server: QdrantServer) -> list[str]:
    assert server.config_path is not None
    base = server.config_path.parent.parent / "snapshots"
    return sorted(str(p.relative_to(base)) for p in base.glob("*/*.snapshot"))


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    tmp = tmp_path_factory.mktemp("upgrade-qdrant")
    with start_qdrant(tmp, api_key=KEY) as server:
        if server.external:
            pytest.skip("writes snapshots: runs against the stand-in only")
        for name in COLLECTIONS:
            answer = httpx.put(
                f"{server.url}/collections/{name}",
                json={"vectors": {"size": 4, "distance": "Cosine"}},
                headers=server.headers(),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        yield server


def test_check_mode_lists_and_reports_but_takes_no_snapshot(
    qdrant: QdrantServer, tmp_path: Path
) -> None:
    output = play(tmp_path, qdrant, key=KEY, ready=200, check=True)
    assert recap(output)["failed"] == 0, output
    assert "Would snapshot the collections [docs, notes]" in output, output
    assert snapshots(qdrant) == []
    assert KEY not in output


def test_every_collection_is_snapshotted_and_reported(qdrant: QdrantServer, tmp_path: Path) -> None:
    before = set(snapshots(qdrant))
    output = play(tmp_path, qdrant, key=KEY, ready=200, check=False)
    assert recap(output)["failed"] == 0, output
    taken = sorted(set(snapshots(qdrant)) - before)
    assert [name.split("/")[0] for name in taken] == list(COLLECTIONS), taken
    assert qdrant.config_path is not None
    base = qdrant.config_path.parent.parent / "snapshots"
    flat = " ".join(output.split())
    for name in taken:
        assert f"{base}/{name}" in flat, output
    assert "Snapshots taken on Qdrant 1.18.4 before the switch to 1.19.1" in flat
    assert re.search(r"\(sha256 [0-9a-f]{64}\)", flat), output
    assert KEY not in output


def test_a_refused_request_stops_the_play_before_the_switch(
    qdrant: QdrantServer, tmp_path: Path
) -> None:
    before = snapshots(qdrant)
    output = play(tmp_path, qdrant, key="Wrong-Key-For-Qdrant-4Tz8Pq", ready=200, check=False)
    assert recap(output)["failed"] == 1, output
    assert re.search(r"GET http://127\.0\.0\.1:\d+/collections: HTTP 40[13]", output), output
    assert "nothing was changed" in output
    assert snapshots(qdrant) == before
    assert "Wrong-Key-For-Qdrant-4Tz8Pq" not in output


def test_a_stopped_qdrant_is_reported_not_snapshotted(qdrant: QdrantServer, tmp_path: Path) -> None:
    before = snapshots(qdrant)
    output = play(tmp_path, qdrant, key=KEY, ready=-1, check=False)
    assert recap(output)["failed"] == 0, output
    assert "Qdrant 1.18.4 is not running" in " ".join(output.split()), output
    assert snapshots(qdrant) == before


def test_the_filters_resolve_by_fqcn_in_a_play(qdrant: QdrantServer, tmp_path: Path) -> None:
    output = play(tmp_path, qdrant, key=KEY, ready=-1, check=True)
    flat = " ".join(output.split())
    assert re.search(r"kind\W+skip", flat), output
    assert "Upgrade to the latest 1.18.x, then 1.19.1" in flat, output
