"""Section 3: ``POST /ingest-async`` accept latency and sustained accepts/s, against
``GET /healthz`` of the same orchestrator, with 1, 10 and 100 concurrent clients.

Accepting a job is the framework's round trip plus admission and the job store: body
validation and one Lua script that takes the client's rate-limit token, checks the queue
caps and writes the job hash, its first event and the queue entry into Redis (AOF with the
redis role's default ``appendfsync``), one round trip, shared by the accepts that call it at
the same moment; a new job is not read back. ``/healthz`` is the
same FastAPI app, middleware and uvicorn connection handling without any of that, so
measured / floor is what accepting a job costs over answering at all. Both are driven by
the same Locust users (:mod:`tests.bench.locustfile`) at the same concurrency, in alternated
runs of the same bench run.

Locust runs in a subprocess (it patches the standard library with gevent on import), for a
fixed time; it stops by itself. Each concurrency's window is cut into :data:`SLICES` runs per
endpoint, alternated healthz, ingest, ingest, healthz... (each run warms up first), and the
samples of an endpoint's runs are pooled: so a stretch of a slower machine (this one's speed
moves by tens of percent over seconds) falls on both sides, as the other sections alternate
their paths call by call. The stack runs no workers during this section, so accepted jobs
only pile up in Redis.

Target (issue 16): the accept's p99 at 10 clients at most 3x that of ``/healthz``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.bench.stats import Figure, percentiles
from tests.support.procs import PYTHON

if TYPE_CHECKING:
    from tests.bench.context import BenchContext
    from tests.integration.stack import Stack

SECTION = "3. ingest_accept"
LEVELS = (1, 10, 100)
SECONDS, QUICK_SECONDS = 6.0, 3.0  # measuring window per endpoint and concurrency
SLICES, QUICK_SLICES = 3, 1  # runs that window is cut into, per endpoint
WARMUP, QUICK_WARMUP = 1.0, 0.5  # of each run, after the last user is spawned, not measured
TARGET_USERS, TARGET_P99_RATIO = 10, 3.0
MAX_FAILURE_RATIO = 0.01
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
API_KEY_ENV = "SHIELD_ORCHESTRATOR__API_KEY"


class BenchFailure(RuntimeError):
    """The section could not produce trustworthy figures (too many failed requests)."""


@dataclass(frozen=True)
class LocustResult:
    """What one Locust run measured inside its window (see :mod:`tests.bench.locustfile`)."""

    users: int
    window_s: float
    ok_ms: list[float]
    window_failures: dict[str, int]
    requests: int  # every request answered before the stop, warm-up included
    failures: dict[str, int]  # reason -> count, warm-up included
    cpu_warning: bool  # Locust found its own process above 90 % CPU

    @classmethod
    def from_json(cls, data: Mapping[str, Any], users: int) -> LocustResult:
        """Parse the JSON the locustfile writes; ValueError if the run never measured."""
        window = data.get("window_s")
        if window is None or window <= 0:
            raise ValueError("Locust never finished spawning its users: no measuring window")
        if int(data["users"]) != users:
            raise ValueError(f"Locust spawned {data['users']} users instead of {users}")
        return cls(
            users=users,
            window_s=float(window),
            ok_ms=[float(x) for x in data["ok_ms"]],
            window_failures={str(k): int(v) for k, v in data["window_failures"].items()},
            requests=int(data["requests"]),
            failures={str(k): int(v) for k, v in data["failures"].items()},
            cpu_warning=bool(data.get("cpu_warning")),
        )

    @classmethod
    def pooled(cls, runs: list[LocustResult]) -> LocustResult:
        """The runs of one endpoint at one concurrency as one: samples, windows and counts
        added up."""

        def added(counts: list[dict[str, int]]) -> dict[str, int]:
            total: Counter[str] = Counter()
            for count in counts:
                total.update(count)
            return dict(total)

        return cls(
            users=runs[0].users,
            window_s=sum(r.window_s for r in runs),
            ok_ms=[ms for r in runs for ms in r.ok_ms],
            window_failures=added([r.window_failures for r in runs]),
            requests=sum(r.requests for r in runs),
            failures=added([r.failures for r in runs]),
            cpu_warning=any(r.cpu_warning for r in runs),
        )

    @property
    def rate(self) -> float:
        """Successful requests per second inside the window."""
        return len(self.ok_ms) / self.window_s

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.requests if self.requests else 1.0

    def failure_text(self) -> str:
        """``"3 of 2,000 requests failed (0.15 %): HTTP 500 x3"`` or ``"no failures"``."""
        if not self.failed:
            return f"no failures in {self.requests:,} requests"
        reasons = ", ".join(
            f"{r} x{n}" for r, n in sorted(self.failures.items(), key=lambda kv: -kv[1])[:3]
        )
        return (
            f"{self.failed:,} of {self.requests:,} requests failed "
            f"({100 * self.failure_ratio:.2f} %): {reasons}"
        )


def check_failures(result: LocustResult, what: str) -> None:
    """Raise BenchFailure when more than 1 % of the requests failed (or none succeeded)."""
    if len(result.ok_ms) < 2:
        raise BenchFailure(
            f"{what} with {result.users} users: only {len(result.ok_ms)} successful requests "
            f"in the {result.window_s:.1f} s window; {result.failure_text()}"
        )
    if result.failure_ratio > MAX_FAILURE_RATIO:
        raise BenchFailure(
            f"{what} with {result.users} users: more than {100 * MAX_FAILURE_RATIO:g} % of "
            f"requests failed, the figures would not mean anything: {result.failure_text()}"
        )


def figures(ingest: LocustResult, healthz: LocustResult, first: bool = False) -> list[Figure]:
    """The latency and the rate figure of one concurrency level. ``first`` adds the notes
    that hold for the whole section."""
    n = ingest.users
    clients = "1 client" if n == 1 else f"{n} concurrent clients"
    latency_notes = [
        f"{clients}: POST /ingest-async {ingest.failure_text()}; "
        f"GET /healthz {healthz.failure_text()}."
    ]
    if first:
        latency_notes.insert(
            0,
            "Locust closed-loop users (no think time) for a fixed window after a warm-up; "
            "percentiles are exact, from each request's own response time (Locust's "
            "request event), not Locust's rounded summary buckets. The load generator "
            "shares the machine's cores with the orchestrator and Redis.",
        )
    for result, what in ((ingest, "ingest"), (healthz, "healthz")):
        if result.cpu_warning:
            latency_notes.append(
                f"{clients}: Locust reported its own CPU above 90 % during the {what} run, "
                "so that rate is partly the load generator's limit."
            )
    latency = Figure(
        section=SECTION,
        name=f"POST /ingest-async accept latency (202), {clients}",
        floor_name=f"GET /healthz of the same orchestrator, {clients}",
        unit="ms",
        measured=percentiles(ingest.ok_ms),
        floor=percentiles(healthz.ok_ms),
        samples=len(ingest.ok_ms),
        floor_samples=len(healthz.ok_ms),
        notes=latency_notes,
        target_ratio=TARGET_P99_RATIO if n == TARGET_USERS else None,
        target_ratio_keys=frozenset({"p99"}),
    )
    rate = Figure(
        section=SECTION,
        name=f"sustained accepts, {clients}",
        floor_name=f"GET /healthz requests/s, {clients}",
        unit="requests/s",
        measured={"value": ingest.rate},
        floor={"value": healthz.rate},
        samples=len(ingest.ok_ms),
        floor_samples=len(healthz.ok_ms),
        higher_is_better=True,
    )
    return [latency, rate]


def api_key(stack: Stack) -> str | None:
    """The orchestrator's API key: from the stack's settings, else from the environment the
    orchestrator inherited (``SHIELD_ORCHESTRATOR__API_KEY``); None when there is none."""
    key = stack.settings_dict().get("orchestrator", {}).get("api_key")
    return str(key) if key else os.environ.get(API_KEY_ENV) or None


def run_locust(
    ctx: BenchContext,
    user_class: str,
    users: int,
    seconds: float,
    warmup: float,
    part: int = 1,
) -> LocustResult:
    """One headless Locust run of ``user_class`` with ``users`` users (``part`` names its
    files); Locust stops itself after spawning (at most a second), the warm-up and the
    measuring window."""
    work = ctx.root / "locust"
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{user_class}-{users}-{part}.json"
    out.unlink(missing_ok=True)
    run_time = math.ceil(1 + warmup + seconds)
    argv = [
        PYTHON,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        user_class,
        "--headless",
        "--host",
        ctx.stack.base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{run_time}s",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    env = {
        **os.environ,
        "SHIELD_BENCH_LOCUST_OUT": str(out),
        "SHIELD_BENCH_WARMUP_S": str(warmup),
        "SHIELD_BENCH_API_KEY": api_key(ctx.stack) or "",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    log = work / f"{user_class}-{users}-{part}.log"
    with log.open("wb") as sink:
        try:
            proc = subprocess.run(
                argv,
                cwd=ctx.repo,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=run_time + 60,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchFailure(f"Locust {user_class} x{users} did not stop; log: {log}") from exc
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    if proc.returncode != 0 or not out.exists():
        raise BenchFailure(
            f"Locust {user_class} x{users} exited with {proc.returncode} and "
            f"{'a' if out.exists() else 'no'} result file; log {log}:\n{tail}"
        )
    try:
        return LocustResult.from_json(json.loads(out.read_text()), users)
    except (ValueError, KeyError) as exc:
        raise BenchFailure(f"Locust {user_class} x{users}: {exc}; log {log}:\n{tail}") from exc


ENDPOINTS = {"HealthzUser": "GET /healthz", "IngestUser": "POST /ingest-async"}


def order(slices: int) -> list[str]:
    """The runs of one concurrency, alternated so that neither endpoint runs first or last
    more often: healthz, ingest, ingest, healthz, healthz, ingest..."""
    pair = list(ENDPOINTS)
    return [user for i in range(slices) for user in (pair if i % 2 == 0 else pair[::-1])]


def measure(
    ctx: BenchContext, levels: tuple[int, ...], seconds: float, warmup: float, slices: int
) -> list[Figure]:
    """Healthz and ingest at each concurrency level, each in ``slices`` alternated runs that
    share ``seconds`` of measuring window; two figures per level."""
    out: list[Figure] = []
    for i, users in enumerate(levels):
        runs: dict[str, list[LocustResult]] = {user: [] for user in ENDPOINTS}
        for user in order(slices):
            part = len(runs[user]) + 1
            ctx.progress(
                f"accept: {ENDPOINTS[user]}, {users} users, run {part}/{slices}, "
                f"{seconds / slices:g} s"
            )
            result = run_locust(ctx, user, users, seconds / slices, warmup, part)
            check_failures(result, ENDPOINTS[user])
            runs[user].append(result)
        healthz = LocustResult.pooled(runs["HealthzUser"])
        ingest = LocustResult.pooled(runs["IngestUser"])
        ctx.progress(
            f"accept: {users} users: {ingest.rate:.0f} accepts/s "
            f"(healthz {healthz.rate:.0f}/s), p99 {percentiles(ingest.ok_ms)['p99']:.1f} ms"
        )
        out += figures(ingest, healthz, first=i == 0)
    return out


def run(ctx: BenchContext) -> list[Figure]:
    """Section 3; needs a stack whose orchestrator is up (workers not needed)."""
    if ctx.quick:
        return measure(ctx, LEVELS, QUICK_SECONDS, QUICK_WARMUP, QUICK_SLICES)
    return measure(ctx, LEVELS, SECONDS, WARMUP, SLICES)
