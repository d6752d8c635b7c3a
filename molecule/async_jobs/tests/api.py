"""What the async_jobs checks drive and observe, from the controller through the ports
shield-jobs-1 publishes on 127.0.0.1: the orchestrator's HTTP API (with this run's API key)
and Qdrant's (with its key, to count what was stored)."""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
import yaml
from qdrant_client import QdrantClient, models
from tests.support.documents import REPORT_SENTENCES
from tests.support.molecule import HonourRetryAfter, run_secrets
from tests.support.wait import wait_until

SCENARIO = yaml.safe_load(Path(__file__).parents[1].joinpath("molecule.yml").read_text())
WORKER: dict[str, Any] = SCENARIO["provisioner"]["inventory"]["group_vars"]["all"][
    "orchestrator_workers_settings"
]["worker"]
API = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_JOBS_API_PORT', '18632')}"
QDRANT = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_JOBS_QDRANT_PORT', '18633')}"
COLLECTION = "shield_documents"
TERMINAL = {"succeeded", "failed", "dead", "cancelled"}
WORKER_HOSTS = ("shield-jobs-1", "shield-jobs-2")
INSTANCES = (1, 2)


def headers(**extra: str) -> dict[str, str]:
    key = run_secrets()["SHIELD_MOLECULE_ORCHESTRATOR_API_KEY"]
    return {"Authorization": f"Bearer {key}", **extra}


def client() -> httpx.Client:
    return httpx.Client(base_url=API, headers=headers(), timeout=15, transport=HonourRetryAfter())


def document(batch: str, n: int) -> dict[str, Any]:
    """Text job n of a batch: a few chunks long, its own source, tagged with the batch."""
    body = " ".join(
        f"{REPORT_SENTENCES[(n + i) % len(REPORT_SENTENCES)]} (section {i}, note {n})"
        for i in range(40)
    )
    return {
        "type": "text",
        "text": f"Field report {n} of batch {batch}. {body}",
        "title": f"Field report {n}",
        "source": f"report-{batch}-{n}",
        "metadata": {"batch": batch},
    }


def new_batch() -> str:
    return uuid.uuid4().hex[:12]


def submit(http: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return http.post("/ingest-async", json=body, headers=extra)


def submit_all(http: httpx.Client, bodies: list[dict[str, Any]]) -> list[str]:
    ids = []
    for body in bodies:
        response = submit(http, body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    return ids


def records(http: httpx.Client, ids: list[str]) -> dict[str, dict[str, Any] | int]:
    """Each job's record, or the HTTP status when there is none (e.g. 404)."""
    out: dict[str, dict[str, Any] | int] = {}
    for job_id in ids:
        response = http.get(f"/jobs/{job_id}")
        out[job_id] = response.json() if response.status_code == 200 else response.status_code
    return out


def wait_terminal(
    http: httpx.Client, ids: list[str], timeout: float
) -> dict[str, dict[str, Any] | int]:
    """Poll every job until each is terminal (or answers 404, without a record);
    AssertionError naming the stragglers at the deadline. Transport errors and 5xx answers
    (an orchestrator or a Redis restarting) are retried until the deadline."""

    def all_terminal() -> dict[str, dict[str, Any] | int]:
        last = records(http, ids)
        answered = not any(isinstance(r, int) and r >= 500 for r in last.values())
        if answered and all(isinstance(r, int) or r["status"] in TERMINAL for r in last.values()):
            return last
        pending = {
            i: r for i, r in last.items() if isinstance(r, int) or r["status"] not in TERMINAL
        }
        raise AssertionError(f"{len(pending)} jobs not finished: {pending}")

    return wait_until(all_terminal, timeout, f"{len(ids)} jobs to finish", interval=1.0)


def stored(batch: str) -> tuple[int, set[str]]:
    """Points in Qdrant tagged with the batch, and their distinct document ids."""
    key = run_secrets()["SHIELD_MOLECULE_QDRANT_API_KEY"]
    with warnings.catch_warnings():
        # Plain http is the published loopback port of the scenario's own host.
        warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
        qdrant = QdrantClient(url=QDRANT, api_key=key, timeout=30, check_compatibility=False)
    flt = models.Filter(
        must=[models.FieldCondition(key="metadata.batch", match=models.MatchValue(value=batch))]
    )
    points, offset, doc_ids = 0, None, set()
    while True:
        page, offset = qdrant.scroll(
            COLLECTION, scroll_filter=flt, limit=256, offset=offset, with_payload=["doc_id"]
        )
        points += len(page)
        doc_ids.update(p.payload["doc_id"] for p in page if p.payload)
        if offset is None:
            return points, doc_ids
