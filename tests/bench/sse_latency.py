"""Section 4: SSE delivery latency, from a worker's event to a client of ``GET /events``,
against a bare Redis stream round trip.

A worker stamps every event it emits with ``ts`` (``time.time()`` just before the Lua script
that XADDs it to the job's stream and the global one, see ``JobStore._event``). The
orchestrator's ``/events`` handler waits on the global stream with a blocking XREAD and
writes each entry to its SSE clients. The latency of one event is the client's
``time.time()`` when httpx-sse hands it over minus that ``ts``; both clocks are this
machine's.

The floor is what that path cannot avoid: an XADD to a scratch stream on the same Redis,
received by a client already blocked in XREAD on it (the orchestrator's position), timed
the same way from just before the XADD to receipt, one entry at a time, as many entries as
SSE samples. The difference is the orchestrator's part: its event loop, JSON, sse-starlette
and HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import redis
from httpx_sse import connect_sse

from tests.bench.accept import api_key
from tests.bench.stats import Figure, percentiles
from tests.support.wait import wait_until

if TYPE_CHECKING:
    from tests.bench.context import BenchContext

SECTION = "4. sse_latency"
JOBS, QUICK_JOBS = 30, 5
SEED_TARGET_MS = 100.0  # seed target for progress latency (reported, not asserted)
TERMINAL_EVENTS = frozenset({"job.succeeded", "job.failed", "job.dead", "job.cancelled"})
ORCHESTRATOR_EVENTS = frozenset({"job.queued"})  # stamped by the orchestrator, not a worker
_FLOOR_CLIENT = "shield-bench-sse-floor"
_TEXT = (
    "SSE benchmark document {n}. The ferry from Keswater leaves at the third bell; its "
    "timetable is posted on the harbour wall next to the tide tables."
)


@dataclass(frozen=True)
class Received:
    """One event as the client got it."""

    event: str
    job_id: str
    ts: float  # the emitter's time.time()
    received: float  # the client's time.time() on receipt

    @property
    def latency_ms(self) -> float:
        return (self.received - self.ts) * 1000.0


def worker_latencies(received: Iterable[Received], jobs: set[str]) -> list[Received]:
    """The events of ``jobs`` that a worker emitted (everything but ``job.queued``)."""
    return [r for r in received if r.job_id in jobs and r.event not in ORCHESTRATOR_EVENTS]


def finished(received: Iterable[Received], jobs: set[str]) -> set[str]:
    """The jobs of ``jobs`` whose terminal event has arrived."""
    return {r.job_id for r in received if r.job_id in jobs and r.event in TERMINAL_EVENTS}


class Subscriber(threading.Thread):
    """Reads ``GET /events`` in its own thread and timestamps every event on arrival.

    ``ready`` is set once the response headers are in: the handler has fixed its starting
    position by then, so every event written afterwards will arrive. It stops when every job
    in ``expect`` (set by the caller once known) has its terminal event, or on ``stop``
    (checked at every event and keep-alive ping)."""

    def __init__(self, base_url: str, headers: dict[str, str], read_timeout: float) -> None:
        super().__init__(name="bench-sse-subscriber", daemon=True)
        self.base_url = base_url
        self.headers = headers
        self.read_timeout = read_timeout
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.expect: set[str] | None = None
        self.received: list[Received] = []
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def run(self) -> None:
        timeout = httpx.Timeout(10.0, read=self.read_timeout)
        try:
            with httpx.Client(base_url=self.base_url, timeout=timeout) as client:
                with connect_sse(client, "GET", "/events", headers=self.headers) as source:
                    source.response.raise_for_status()
                    self.ready.set()
                    for sse in source.iter_sse():
                        now = time.time()
                        if sse.data:
                            data = json.loads(sse.data)
                            item = Received(sse.event, str(data["job_id"]), float(data["ts"]), now)
                            with self._lock:
                                self.received.append(item)
                        if self.stop.is_set() or self._done():
                            return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
        finally:
            self.ready.set()

    def _done(self) -> bool:
        expect = self.expect
        return expect is not None and finished(self.received, expect) == expect


def measure_sse(ctx: BenchContext, jobs: int) -> tuple[list[Received], dict[str, str]]:
    """Submit ``jobs`` text ingests while subscribed to ``/events``; return the worker events
    of those jobs and each job's final status."""
    key = api_key(ctx.stack)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    ping = float(ctx.stack.settings_dict()["orchestrator"].get("sse_ping_seconds", 15.0))
    sub = Subscriber(ctx.stack.base_url, headers, read_timeout=ping + 10.0)
    sub.start()
    try:
        if not sub.ready.wait(30.0) or sub.error is not None:
            raise RuntimeError(f"could not subscribe to {ctx.stack.base_url}/events: {sub.error}")
        ids: set[str] = set()
        with ctx.stack.http() as client:
            for n in range(jobs):
                body = {"type": "text", "text": _TEXT.format(n=n), "source": f"bench:sse:{n}"}
                r = client.post("/ingest-async", json=body, headers=headers)
                if r.status_code != 202:
                    raise RuntimeError(f"POST /ingest-async answered {r.status_code}: {r.text}")
                ids.add(r.json()["job_id"])
        sub.expect = ids
        deadline = 60.0 + 5.0 * jobs

        def all_done() -> bool:
            if sub.error is not None:
                raise RuntimeError(f"SSE subscriber failed: {sub.error!r}")
            return finished(sub.snapshot(), ids) == ids

        try:
            wait_until(all_done, deadline, f"terminal events of {jobs} jobs on /events")
        except AssertionError as exc:
            raise RuntimeError(f"{exc}\n{ctx.stack.logs_tail()}") from exc
    finally:
        sub.stop.set()
        sub.join(ping + 15.0)
    received = sub.snapshot()
    statuses = {
        r.job_id: r.event.removeprefix("job.") for r in received if r.event in TERMINAL_EVENTS
    }
    return worker_latencies(received, ids), statuses


def _blocked_in_xread(client: redis.Redis) -> bool:
    for entry in client.client_list():
        if entry.get("name") == _FLOOR_CLIENT:
            return "b" in str(entry.get("flags", "")) and entry.get("cmd") == "xread"
    return False


def measure_redis_floor(redis_url: str, count: int) -> list[float]:
    """``count`` XADD → blocked-XREAD deliveries on a scratch stream, one at a time (ms)."""
    stream = f"shield-bench:sse-floor:{uuid.uuid4().hex}"
    samples: list[float] = []
    delivered = threading.Semaphore(0)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with redis.Redis.from_url(redis_url, client_name=_FLOOR_CLIENT) as reader:
                cursor = "0-0"
                while len(samples) < count:
                    res = reader.xread({stream: cursor}, block=1000, count=100)
                    now = time.time()
                    for _name, entries in res or []:
                        for entry_id, payload in entries:
                            cursor = entry_id
                            samples.append((now - json.loads(payload[b"data"])["ts"]) * 1000.0)
                            delivered.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the writer's thread
            errors.append(exc)
            delivered.release()

    reader_thread = threading.Thread(target=read, name="bench-redis-floor", daemon=True)
    reader_thread.start()
    with redis.Redis.from_url(redis_url) as writer:
        try:
            for n in range(count):
                wait_until(lambda: errors or _blocked_in_xread(writer), 10, "XREAD to block", 0.001)
                if errors:
                    break
                body = {"event": "job.progress", "job_id": stream, "progress": n / count}
                body["ts"] = time.time()
                writer.xadd(stream, {"data": json.dumps(body, separators=(",", ":"))})
                if not delivered.acquire(timeout=10):
                    raise RuntimeError(f"XREAD did not receive entry {n} within 10 s")
        finally:
            reader_thread.join(15)
            writer.delete(stream)
    if errors:
        raise RuntimeError(f"Redis floor reader failed: {errors[0]!r}")
    return samples


def figure(
    sse: list[Received], floor_ms: list[float], jobs: int, statuses: dict[str, str]
) -> Figure:
    """The section's one figure, with the seed-target note."""
    latencies = [r.latency_ms for r in sse]
    measured = percentiles(latencies)
    progress = [r.latency_ms for r in sse if r.event == "job.progress"]
    counts: dict[str, int] = {}
    for r in sse:
        counts[r.event] = counts.get(r.event, 0) + 1
    kinds = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items()))
    outcome: dict[str, int] = {}
    for status in statuses.values():
        outcome[status] = outcome.get(status, 0) + 1
    notes = [
        f"{jobs} small text jobs submitted at once; {len(sse)} worker events received on "
        f"GET /events ({kinds}); job.queued is left out (the orchestrator stamps it). "
        f"Jobs ended: {', '.join(f'{s} x{n}' for s, n in sorted(outcome.items()))}.",
        "Latency = client time.time() on receipt - the event's ts (worker time.time() just "
        "before its XADD), same machine clock; the floor's XREAD client is already blocked "
        "when each entry is added, one entry at a time.",
    ]
    if len(progress) >= 2:
        p99 = percentiles(progress)["p99"]
        verdict = "met" if p99 < SEED_TARGET_MS else "not met"
        notes.append(
            f"Seed target: progress latency < {SEED_TARGET_MS:g} ms; job.progress events "
            f"measured p99 {p99:.1f} ms (all worker events p99 {measured['p99']:.1f} ms): "
            f"{verdict}."
        )
    else:
        notes.append(
            f"Seed target: progress latency < {SEED_TARGET_MS:g} ms; all worker events "
            f"measured p99 {measured['p99']:.1f} ms."
        )
    return Figure(
        section=SECTION,
        name="SSE delivery: worker event → client of GET /events",
        floor_name="Redis XADD → client blocked in XREAD, same Redis",
        unit="ms",
        measured=measured,
        floor=percentiles(floor_ms),
        samples=len(latencies),
        floor_samples=len(floor_ms),
        notes=notes,
    )


def run(ctx: BenchContext) -> list[Figure]:
    """Section 4; needs the stack's workers running."""
    if not ctx.stack.workers:
        raise RuntimeError("section 4 needs running workers (ctx.stack.workers is empty)")
    jobs = ctx.scaled(JOBS, QUICK_JOBS)
    ctx.progress(f"sse: {jobs} text jobs while subscribed to /events")
    sse, statuses = measure_sse(ctx, jobs)
    if len(sse) < 2:
        raise RuntimeError(f"only {len(sse)} worker events arrived for {jobs} jobs")
    ctx.progress(f"sse: {len(sse)} events; Redis XADD → XREAD floor, {len(sse)} entries")
    floor_ms = measure_redis_floor(ctx.stack.settings_dict()["redis"]["url"], len(sse))
    fig = figure(sse, floor_ms, jobs, statuses)
    ctx.progress(
        f"sse: p50 {fig.measured['p50']:.1f} ms, p99 {fig.measured['p99']:.1f} ms "
        f"(Redis floor p50 {fig.floor['p50']:.2f} ms, p99 {fig.floor['p99']:.2f} ms)"
    )
    return [fig]
