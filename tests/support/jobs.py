"""Waiting for jobs through an orchestrator's HTTP API (the Molecule checks' clients)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.wait import wait_until

TERMINAL = {"succeeded", "failed", "dead", "cancelled"}


def wait_terminal(http: httpx.Client, ids: list[str], timeout: float) -> dict[str, Any]:
    """Every job's record once all are terminal, asking again only for those that are not;
    AssertionError naming them at the deadline (5xx and transport errors count as "not yet")."""
    records: dict[str, Any] = {}

    def done() -> dict[str, Any]:
        for job_id in ids:
            if records.get(job_id, {}).get("status") in TERMINAL:
                continue
            response = http.get(f"/jobs/{job_id}")
            assert response.status_code == 200, f"{job_id}: HTTP {response.status_code}"
            records[job_id] = response.json()
        pending = {i: records[i]["status"] for i in ids if records[i]["status"] not in TERMINAL}
        assert not pending, f"{len(pending)} jobs not finished: {pending}"
        return records

    result: dict[str, Any] = wait_until(done, timeout, f"{len(ids)} jobs to finish", interval=1)
    return result
