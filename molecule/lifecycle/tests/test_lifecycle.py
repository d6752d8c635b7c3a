"""Day-2 operations end to end, in order (docs/operations.md): release A deployed and
backed up; a rolling upgrade to release B under load; a gate that fails on one host and
switches it back; a rollback of everything to A; the data destroyed and restored.

Each stage leaves what the next needs in the session fixture ``state``; FIGURE lines are the
measurements docs/operations.md quotes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lifecycle as lc
import pytest
from tests.support import release_b
from tests.support.jobs import wait_terminal
from tests.support.molecule import figure, playbook

# A stage runs a playbook over two hosts (an upgrade installs a release on each: minutes).
pytestmark = pytest.mark.timeout(1200)

HOSTS = ("shield-life-1", "shield-life-2")
PIN_B = "sniffio==1.3.0"
STACK_USERS = ("shield-orchestrator", "shield-worker", "shield-lightrag", "shield-mcp")


def current(node: Any) -> str:
    return str(node.check_output("basename $(readlink /opt/shield-rag/current)"))


def freeze(node: Any) -> str:
    out: str = node.check_output(
        "/opt/shield-rag/current/venv/bin/python -m pip freeze --all --disable-pip-version-check"
    )
    return out


def processes_from(node: Any, release: str) -> list[str]:
    """Command lines of the processes that run a Python from ``release``'s virtualenv."""
    # [/]: the pattern does not match pgrep's own shell.
    out = node.run(f"pgrep -af '[/]opt/shield-rag/releases/{release}/venv/bin/python'").stdout
    return [line for line in out.splitlines() if line.strip()]


def test_release_a_is_deployed_as_a_release(node1: Any, node2: Any, state: dict[str, Any]) -> None:
    releases = {current(node1), current(node2)}
    assert len(releases) == 1, releases
    (state["a"],) = releases
    assert state["a"].startswith("0.1.0-")
    manifest = json.loads(
        node1.file(f"/opt/shield-rag/releases/{state['a']}/manifest.json").content_string
    )
    assert manifest["version"] == "0.1.0"
    assert manifest["installer"] == "uv"
    assert manifest["settings_schema"] >= 1
    state["freeze_a"] = {"shield-life-1": freeze(node1), "shield-life-2": freeze(node2)}
    recorded = node1.file(f"/opt/shield-rag/releases/{state['a']}/freeze.txt").content_string
    assert state["freeze_a"]["shield-life-1"] == recorded.strip()


def test_documents_are_ingested_and_backed_up(node1: Any, state: dict[str, Any]) -> None:
    with lc.client() as http:
        ids = [lc.submit(http, lc.document("before", n)) for n in range(6)]
        records = wait_terminal(http, ids, 300)
        assert {r["status"] for r in records.values()} == {"succeeded"}, records
        assert {r["phases"]["graph"] for r in records.values()} == {"succeeded"}, records
        state["jobs_before"] = ids
        state["searches_before"] = lc.searches(http)
        state["answers_before"] = lc.answers(http)
    assert all(state["searches_before"].values()), state["searches_before"]

    run = playbook("backup")
    assert run.rc == 0, run.output[-6000:]
    backups = node1.check_output("ls -1 /var/backups/shield-rag").split()
    assert len(backups) == 1, backups
    assert not backups[0].endswith(".partial"), backups
    state["backup"] = backups[0]
    manifest = json.loads(
        node1.file(f"/var/backups/shield-rag/{backups[0]}/manifest.json").content_string
    )
    state["manifest"] = manifest
    assert manifest["stack"]["releases"]["shield-life-1"]["release"] == state["a"]
    documents = manifest["qdrant"]["collections"]["shield_documents"]
    assert documents["points_count"] > 0
    size = sum(f["size"] for f in manifest["files"])
    figure(
        "backup",
        playbook_seconds=run.seconds,
        manifest_seconds=float(manifest["seconds"]),
        bytes=size,
        files=len(manifest["files"]),
        graph_writes_stopped_seconds=float(manifest["lightrag"]["graph_writes_stopped_seconds"]),
    )


def test_rolling_upgrade_under_load_loses_no_job(
    node1: Any, node2: Any, state: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    archive_a = Path(os.environ["SHIELD_WHEELHOUSE_ARCHIVE"])
    archive_b = tmp_path_factory.mktemp("release-b") / "wheelhouse-b.tar.gz"
    cache = Path(os.environ.get("SHIELD_RELEASE_B_CACHE", Path.home() / ".cache/shield-rag/wheels"))
    release_b.make(archive_a, archive_b, "0.1.1", PIN_B, cache)
    state["archive_b"] = str(archive_b)

    # --check first: it gets through every host and changes nothing.
    dry = playbook("upgrade", "--check", "-e", f"shield_runtime_wheelhouse_archive={archive_b}")
    assert dry.rc == 0, dry.output[-6000:]
    assert (current(node1), current(node2)) == (state["a"], state["a"])

    load = lc.Load().start()
    try:
        run = playbook("upgrade", "-e", f"shield_runtime_wheelhouse_archive={archive_b}")
    finally:
        load.stop()
    assert run.rc == 0, run.output[-4000:]
    state["b"] = current(node1)
    assert state["b"].startswith("0.1.1-")
    assert current(node2) == state["b"]
    for node in (node1, node2):
        assert PIN_B in freeze(node)
        assert not processes_from(node, state["a"]), processes_from(node, state["a"])

    # Every accepted job ends, on whichever replica accepted it.
    by_host: dict[str, list[str]] = {}
    for host, job_id in load.jobs:
        by_host.setdefault(host, []).append(job_id)
    for host, ids in by_host.items():
        with lc.client(host) as http:
            records = wait_terminal(http, ids, 600)
        not_ok = {i: r["status"] for i, r in records.items() if r["status"] != "succeeded"}
        assert not not_ok, f"jobs accepted by {host} did not succeed: {not_ok}"

    # One host at a time: a search never failed on both replicas within the same second.
    failed = load.failures("search")
    for t, host in failed:
        others = [o for o in failed if o[1] != host and abs(o[0] - t) < 1.0]
        assert not others, f"searches failed on both replicas at once: {(t, host)} {others}"
    per_host = run.span("PLAY [Upgrade the Shield RAG Python services, one host at a time]")
    figure(
        "upgrade",
        seconds=run.seconds,
        hosts=len(per_host),
        per_host_seconds=" ".join(f"{end - start:.1f}" for start, end in per_host),
    )
    figure(
        "upgrade load",
        searches=sum(1 for o in load.outcomes if o[2] == "search"),
        searches_failed=len(failed),
        **{f"failed_on_{h[-1]}": sum(1 for _unused, x in failed if x == h) for h in HOSTS},
        ingests=sum(1 for o in load.outcomes if o[2] == "ingest"),
        ingests_refused=len(load.failures("ingest")),
        jobs_accepted=len(load.jobs),
        jobs_lost=0,
    )


def test_a_failed_gate_switches_the_host_back(node2: Any, state: dict[str, Any]) -> None:
    back = playbook("rollback", "--limit", "shield-life-2")
    assert back.rc == 0, back.output[-4000:]
    assert current(node2) == state["a"]
    settings_a = node2.file("/etc/shield-rag/orchestrator.yml").content_string

    # B again on shield-life-2, with a Redis port nothing listens on: the orchestrator never
    # gets ready, the role's wait fails, and the host goes back to A.
    run = playbook(
        "upgrade",
        "--limit",
        "shield-life-2",
        "-e",
        f"shield_runtime_wheelhouse_archive={state['archive_b']}",
        "-e",
        "orchestrator_fastapi_redis_port=1",
        # The role waits this long for /readyz before the gate counts as failed (a Redis that
        # never answers fails it however long it waits).
        "-e",
        "orchestrator_fastapi_wait_seconds=10",
    )
    assert run.rc != 0
    assert "Upgrade stopped on shield-life-2" in run.output, run.output[-4000:]
    assert f"The host runs release {state['a']} again, which answers" in run.output, run.output[
        -4000:
    ]
    assert "journalctl" in run.output
    assert current(node2) == state["a"]
    assert freeze(node2) == state["freeze_a"]["shield-life-2"]
    assert node2.file("/etc/shield-rag/orchestrator.yml").content_string == settings_a
    assert not processes_from(node2, state["b"]), processes_from(node2, state["b"])
    with lc.client("shield-life-2") as http:
        assert http.get("/readyz").status_code == 200
    figure("failed gate", seconds=run.seconds)


def test_rollback_to_a_restores_the_exact_package_set(
    node1: Any, node2: Any, state: dict[str, Any]
) -> None:
    run = playbook("rollback", "-e", f"shield_runtime_rollback_release={state['a']}")
    assert run.rc == 0, run.output[-4000:]
    for name, node in (("shield-life-1", node1), ("shield-life-2", node2)):
        assert current(node) == state["a"]
        assert freeze(node) == state["freeze_a"][name]
        assert not processes_from(node, state["b"]), processes_from(node, state["b"])
    figure("rollback", seconds=run.seconds, hosts=2)


def test_destroyed_data_comes_back_from_the_backup(
    node1: Any, node2: Any, state: dict[str, Any]
) -> None:
    node2.check_output("systemctl stop 'shield-*'")
    node1.check_output("systemctl stop 'shield-*' qdrant redis-server")
    for node in (node1, node2):
        for user in (*STACK_USERS, "qdrant", "redis"):
            left = node.run(f"pgrep -u {user} -a").stdout.strip() if node.user(user).exists else ""
            assert not left, f"{user} processes left after stop: {left}"
    node1.check_output(
        "rm -rf /var/lib/qdrant/storage/* /var/lib/redis/appendonlydir /var/lib/redis/dump.rdb"
        " && find /var/lib/shield-rag/lightrag -mindepth 1 -delete"
    )
    node1.check_output(
        "systemctl start redis-server qdrant shield-lightrag shield-orchestrator shield-mcp"
        " shield-worker@1"
    )
    node2.check_output("systemctl start shield-orchestrator shield-worker@1")

    run = playbook("restore")
    assert run.rc == 0, run.output[-4000:]
    with lc.client() as http:
        after = lc.searches(http)
        # The same hits in the same order. Scores: the Qdrant stand-in re-normalises cosine
        # vectors when it recovers a snapshot (float32 rounding, ~1e-8); Qdrant restores its
        # snapshots byte for byte.
        for query, hits in state["searches_before"].items():
            assert [i for i, _unused in after[query]] == [i for i, _unused in hits], query
            assert [s for _unused, s in after[query]] == pytest.approx(
                [s for _unused, s in hits], abs=1e-6
            )
        assert lc.answers(http) == state["answers_before"]
        records = wait_terminal(http, state["jobs_before"], 60)
        assert {r["status"] for r in records.values()} == {"succeeded"}
    figure("restore", seconds=run.seconds)
