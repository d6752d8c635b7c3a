"""Locust users for section 3 of ``python -m tests.bench`` (accept latency).

``IngestUser`` posts a small text ingest to ``POST /ingest-async`` and expects 202;
``HealthzUser`` gets ``/healthz`` of the same orchestrator, the floor. Each user sends its
next request as soon as the previous answer arrives (a closed loop without think time), so
N users keep N requests in flight.

Run only in a subprocess started by :mod:`tests.bench.accept`: Locust patches the standard
library with gevent when it is imported. Environment:

* ``SHIELD_BENCH_LOCUST_OUT`` (required): where to write the result, as JSON, when Locust
  quits;
* ``SHIELD_BENCH_WARMUP_S``: seconds after the last user is spawned before measuring;
* ``SHIELD_BENCH_API_KEY``: the orchestrator's API key, sent as a bearer token.

Locust's own summary keeps response times in rounded buckets; this file records every
request's own response time from Locust's ``request`` event instead, so the percentiles are
exact. Only requests completed inside the measuring window count for latency and rate: from
the warm-up's end until Locust starts stopping its users. Failures are counted from the first
request to the same end (requests cut off by the stop itself are not the server's failures).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.env import Environment

_OUT = os.environ.get("SHIELD_BENCH_LOCUST_OUT", "")
_WARMUP_S = float(os.environ.get("SHIELD_BENCH_WARMUP_S", "1"))
_API_KEY = os.environ.get("SHIELD_BENCH_API_KEY", "")
_HEADERS = {"Authorization": f"Bearer {_API_KEY}"} if _API_KEY else {}
_TEXT = (
    "Benchmark accept document {n}. The Marrowind bell is rung at dusk in the harbour "
    "town of Keswater, where the tide tables are kept in the lighthouse keeper's ledger."
)
_counter = itertools.count(1)


class _Recorder:
    """Collects response times and failures; writes them as JSON when Locust quits."""

    def __init__(self) -> None:
        self.users = 0
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.ok_ms: list[float] = []
        self.window_failures: Counter[str] = Counter()
        self.requests = 0
        self.failures: Counter[str] = Counter()

    def spawned(self, user_count: int, **_: Any) -> None:
        self.users = user_count
        self.window_start = time.monotonic() + _WARMUP_S

    def stopping(self, **_: Any) -> None:
        if self.window_end is None:
            self.window_end = time.monotonic()

    def request(self, response_time: float, exception: BaseException | None, **_: Any) -> None:
        now = time.monotonic()
        if self.window_end is not None:
            return
        self.requests += 1
        reason = f"{type(exception).__name__}: {exception}"[:160] if exception else ""
        if reason:
            self.failures[reason] += 1
        if self.window_start is None or now < self.window_start:
            return
        if reason:
            self.window_failures[reason] += 1
        else:
            self.ok_ms.append(float(response_time))

    def result(self, environment: Environment) -> dict[str, Any]:
        end = self.window_end if self.window_end is not None else time.monotonic()
        window_s = end - self.window_start if self.window_start is not None else None
        runner = environment.runner
        return {
            "users": self.users,
            "window_s": window_s,
            "ok_ms": self.ok_ms,
            "window_failures": dict(self.window_failures),
            "requests": self.requests,
            "failures": dict(self.failures),
            "cpu_warning": bool(runner and runner.cpu_warning_emitted),
        }

    def write(self, environment: Environment, **_: Any) -> None:
        if _OUT:
            Path(_OUT).write_text(json.dumps(self.result(environment)))


_recorder = _Recorder()
events.spawning_complete.add_listener(_recorder.spawned)
events.test_stopping.add_listener(_recorder.stopping)
events.request.add_listener(_recorder.request)
events.quitting.add_listener(_recorder.write)


class IngestUser(FastHttpUser):
    """``POST /ingest-async`` with a small text document, back to back; 202 or a failure."""

    wait_time = constant(0)

    @task
    def ingest(self) -> None:
        body = {"type": "text", "text": _TEXT.format(n=next(_counter)), "source": "bench:accept"}
        with self.client.post(
            "/ingest-async", json=body, headers=_HEADERS, catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"HTTP {response.status_code}")


class HealthzUser(FastHttpUser):
    """``GET /healthz``, back to back: the framework's round trip without the job store."""

    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        with self.client.get("/healthz", headers=_HEADERS, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
