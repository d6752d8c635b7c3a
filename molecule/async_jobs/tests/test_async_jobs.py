"""Async jobs on two worker hosts sharing one Redis, under systemd, through the real path.

In file order, each phase on a fresh batch of documents (tagged in their metadata, so Qdrant
can be asked what each batch stored): 50 jobs while a worker on shield-jobs-2 is killed with
SIGKILL mid-job; Redis and the orchestrator restarted while jobs run; an SSE client that
disconnects and resumes with Last-Event-ID; Idempotency-Key; a job that always fails ends
dead after max_attempts with its reason; a frozen worker's job is taken over; finally every
unit is stopped and no service process is left.

"Nothing lost, nothing duplicated" is read from Qdrant: one document per job, and exactly the
chunks the jobs report (point ids are derived from document and chunk, so a retried job
overwrites its own points).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from api import (
    API,
    INSTANCES,
    TERMINAL,
    WORKER,
    WORKER_HOSTS,
    client,
    document,
    headers,
    new_batch,
    records,
    stored,
    submit,
    submit_all,
    wait_terminal,
)
from tests.support.molecule import figure
from tests.support.sse import read_events
from tests.support.wait import wait_until

CLAIM_IDLE = float(WORKER["claim_idle_seconds"])
MAX_ATTEMPTS = int(WORKER["max_attempts"])
# The documented bound for a batch to finish after a fault: the takeover delay of a job whose
# worker died plus two minutes of processing (docs/scenario-async-jobs.md).
BOUND = CLAIM_IDLE + 120


def assert_all_stored(final: dict[str, Any], batch: str, jobs: int) -> None:
    """Every job succeeded; Qdrant holds one document per job and exactly their chunks."""
    missing = [job_id for job_id, r in final.items() if isinstance(r, int)]
    assert not missing, f"{len(missing)} job ids without a record: {missing}"
    failed = {job_id: r for job_id, r in final.items() if r["status"] != "succeeded"}
    assert not failed, failed
    points, doc_ids = stored(batch)
    assert len(doc_ids) == jobs, (len(doc_ids), jobs)
    assert points == sum(r["result"]["chunks"] for r in final.values())


def interrupt_mid_job(
    http: httpx.Client, ids: list[str], worker: str, signal: Callable[[], None]
) -> dict[str, Any]:
    """Send ``signal`` to a worker while it runs one of ``ids``; return that job's record as
    it stood after the signal. The job counts as interrupted mid-job only if the record still
    shows it running on that worker afterwards (a stopped process cannot change it); when the
    job finished in between, try again with the worker's next job."""
    unfinished = list(ids)

    def running_there() -> str | None:
        # Only the jobs not yet finished are read again: a poll stays short, so a job that
        # runs for half a second on ``worker`` is seen while it runs.
        found = records(http, unfinished)
        unfinished[:] = [
            i for i, r in found.items() if not isinstance(r, dict) or r["status"] not in TERMINAL
        ]
        return next(
            (
                i
                for i, r in found.items()
                if isinstance(r, dict) and r["status"] == "running" and r["worker"] == worker
            ),
            None,
        )

    for _unused in range(5):
        job_id = wait_until(running_there, 60, f"a job running on {worker}", interval=0.1)
        signal()
        after = http.get(f"/jobs/{job_id}").json()
        if after["status"] == "running" and after["worker"] == worker:
            return after
    raise AssertionError(f"{worker} finished each of 5 jobs before the signal reached it")


def count_in_status(http: httpx.Client, ids: list[str], status: str) -> int:
    """How many of ``ids`` are in ``status``, read once every one answers with its record
    (after a restart Redis may still be loading; a lost job would stay 404 until the
    deadline and be named in the failure)."""

    def every_record() -> dict[str, Any] | None:
        found = records(http, ids)
        return found if all(isinstance(r, dict) for r in found.values()) else None

    found = wait_until(every_record, 60, "a record for every job", interval=0.5)
    return sum(r["status"] == status for r in found.values())


def main_pid(node: Any, unit: str) -> int:
    return int(node.check_output(f"systemctl show -p MainPID --value {unit}"))


def test_workers_run_on_both_hosts(node1: Any, node2: Any) -> None:
    for node in (node1, node2):
        for i in INSTANCES:
            assert node.service(f"shield-worker@{i}").is_running
    assert node2.file("/etc/shield-rag").exists
    assert not node2.service("redis-server").is_running  # the workers there use shield-jobs-1's


def test_50_jobs_survive_a_worker_killed_mid_job(node1: Any, node2: Any) -> None:
    batch = new_batch()
    unit, worker = "shield-worker@1.service", "shield-jobs-2-1"
    with client() as http:
        start = time.monotonic()
        ids = submit_all(http, [document(batch, n) for n in range(50)])
        accepted = time.monotonic() - start
        before = main_pid(node2, unit)
        killed = interrupt_mid_job(
            http, ids, worker, lambda: node2.run(f"systemctl kill -s SIGKILL {unit}")
        )
        final = wait_terminal(http, ids, BOUND)
        figure("50 jobs, kill -9", accept_s=accepted, all_done_s=time.monotonic() - start)
    assert_all_stored(final, batch, 50)
    redone = final[killed["job_id"]]
    assert redone["attempts"] == killed["attempts"] + 1, (killed, redone)
    # systemd restarted the killed worker; both hosts' workers took jobs.
    assert wait_until(lambda: main_pid(node2, unit) not in (0, before), 30, "a new worker")
    hosts = {r["worker"].rsplit("-", 1)[0] for r in final.values()}
    assert hosts == set(WORKER_HOSTS), hosts


def test_redis_and_orchestrator_restarts_lose_no_job(node1: Any, node2: Any) -> None:
    assert node1.file("/etc/redis/redis.conf").contains("^appendonly yes")
    workers = " ".join(f"shield-worker@{i}.service" for i in INSTANCES)
    batch = new_batch()
    with client() as http:
        # Queued while no worker runs: a restart of Redis must keep all of them (AOF).
        for node in (node1, node2):
            assert node.run(f"systemctl stop {workers}").rc == 0
        try:
            ids = submit_all(http, [document(batch, n) for n in range(30)])
            assert node1.run("systemctl restart redis-server.service").rc == 0
            queued = count_in_status(http, ids, "queued")
        finally:
            assert node2.run(f"systemctl start {workers}").rc == 0
            # Redis restarts again as soon as the workers there run: jobs are in flight.
            assert node1.run(f"systemctl start {workers} && systemctl restart redis-server").rc == 0
        start = time.monotonic()
        assert node1.run("systemctl restart shield-orchestrator.service").rc == 0
        final = wait_terminal(http, ids, BOUND)
        figure("restarts", done_after_restarts_s=time.monotonic() - start)
    assert queued == len(ids)
    assert_all_stored(final, batch, 30)


def test_sse_client_resuming_with_last_event_id_sees_every_event_once_in_order() -> None:
    batch = new_batch()
    auth = headers()
    with client() as http:
        # Queued behind a dozen others, so the client resumes while the job runs.
        submit_all(http, [document(batch, n) for n in range(12)])
        job_id = submit_all(http, [document(batch, 12)])[0]
    path = f"/jobs/{job_id}/events"
    first = read_events(API, path, stop_after=1, headers=auth)
    rest = read_events(
        API,
        path,
        last_event_id=first[-1].id,
        until_event={"job.succeeded", "job.failed", "job.dead"},
        timeout=BOUND,
        headers=auth,
    )
    full = read_events(API, path, timeout=30, headers=auth)
    assert [e.id for e in first + rest] == [e.id for e in full]
    assert len({e.id for e in full}) == len(full)
    assert rest[-1].event == "job.succeeded", rest
    assert "job.started" in {e.event for e in rest}, rest


def test_idempotency_key_gives_the_same_job() -> None:
    batch = new_batch()
    key = f"drill-{batch}"
    body = document(batch, 0)
    with client() as http:
        first = submit(http, body, key)
        again = submit(http, body, key)
        other = submit(http, document(batch, 1), key)
        assert first.status_code == 202, first.text
        assert again.json()["job_id"] == first.json()["job_id"], again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert other.status_code == 422, other.text
        assert "already used" in other.json()["detail"], other.text
        final = wait_terminal(http, [first.json()["job_id"]], BOUND)
    assert_all_stored(final, batch, 1)


def test_a_job_that_always_fails_is_dead_after_max_attempts_with_its_reason() -> None:
    # shield-jobs-2 listens on no port 9: every attempt is refused (a transient error).
    body = {"type": "url", "url": "http://shield-jobs-2:9/report.html", "max_pages": 1}
    with client() as http:
        response = submit(http, body)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        [record] = list(wait_terminal(http, [job_id], BOUND).values())
    assert isinstance(record, dict), record
    assert record["status"] == "dead", record
    assert record["attempts"] == MAX_ATTEMPTS, record
    reason = rf"gave up after {MAX_ATTEMPTS} attempts; last error: .*connect"
    assert re.search(reason, record["error"]), record


def test_a_frozen_workers_job_is_taken_over(node2: Any) -> None:
    batch = new_batch()
    unit, worker = "shield-worker@2.service", "shield-jobs-2-2"
    with client() as http:
        ids = submit_all(http, [document(batch, n) for n in range(30)])
        try:
            frozen = interrupt_mid_job(
                http, ids, worker, lambda: node2.run(f"systemctl kill -s SIGSTOP {unit}")
            )
            start = time.monotonic()
            [taken] = list(wait_terminal(http, [frozen["job_id"]], BOUND).values())
            figure("frozen worker", taken_over_and_done_s=time.monotonic() - start)
        finally:
            node2.run(f"systemctl kill -s SIGCONT {unit}")
        final = wait_terminal(http, ids, BOUND)
    assert isinstance(taken, dict), taken
    assert taken["status"] == "succeeded", taken
    assert taken["worker"] != worker, taken
    assert taken["attempts"] == frozen["attempts"] + 1, (frozen, taken)
    # The resumed worker cannot overwrite the finished job, nor store its chunks twice.
    assert final[frozen["job_id"]]["worker"] == taken["worker"]
    assert_all_stored(final, batch, 30)


def test_no_service_process_is_left_after_stopping_every_unit(node1: Any, node2: Any) -> None:
    units = {
        node1: "shield-orchestrator.service shield-worker@1 shield-worker@2 qdrant redis-server",
        node2: "shield-worker@1 shield-worker@2",
    }
    for node, names in units.items():
        assert node.run(f"systemctl stop {names} ollama.service").rc == 0
        for name in names.split():
            assert node.service(name).is_running is False
        left = node.check_output("ps -eo user=,args=")
        services = [
            line
            for line in left.splitlines()
            if re.search(r"shield-(worker|orchestrator)|qdrant|redis-server|ollama serve", line)
        ]
        assert not services, services
