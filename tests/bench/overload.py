"""Section 8: search latency while the orchestrator is flooded with job submissions.

The set-up of ``tests/integration/test_overload.py`` (which checks what must hold under
overload and leaves the speed to this benchmark): five clients submit small text jobs at
fixed offered rates for a fixed window while one client searches at a steady pace; the
same searcher runs alone before the window and again once the flood has drained. The figure
is the search latency during the flood against the unloaded latency of the same run.

The bench's stack runs with admission limits no closed-loop client reaches (see
``tests/bench/__main__.py``), so every submission is accepted and the workers take the
whole flood; once the window is over, the jobs still queued are cancelled (``DELETE
/jobs/{id}``) so the searcher's second unloaded run does not wait for them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.bench.context import BenchContext
from tests.bench.measure import latency_figure
from tests.bench.stats import Figure
from tests.integration.stack import TERMINAL
from tests.integration.test_overload import (
    OFFERED,
    SEARCH_RATE,
    WINDOW_SECONDS,
    _searches,
    _submitter,
    _unloaded_searches,
)
from tests.support.wait import wait_until

DRAIN_TIMEOUT = 120.0


def run(ctx: BenchContext) -> list[Figure]:
    stack = ctx.stack
    unloaded: list[float] = []
    loaded: list[float] = []
    errors: list[str] = []
    ctx.progress("  overload: unloaded searches")
    _unloaded_searches(stack, unloaded, errors)

    accepted: list[str] = []
    refused: list[tuple[int, Any]] = []
    stop = threading.Event()
    searcher = threading.Thread(target=_searches, args=(stack, stop, loaded, errors))
    deadline = time.monotonic() + WINDOW_SECONDS
    submitters = [
        threading.Thread(target=_submitter, args=(stack, name, deadline, accepted, refused))
        for name in OFFERED
    ]
    ctx.progress(
        f"  overload: {len(OFFERED)} clients submit {sum(OFFERED.values()):g} jobs/s for "
        f"{WINDOW_SECONDS:g} s while one client searches {SEARCH_RATE:g} times/s"
    )
    searcher.start()
    for s in submitters:
        s.start()
    for s in submitters:
        s.join()
    stop.set()
    searcher.join()

    cancelled = _cancel_queued(ctx, accepted)
    ctx.progress("  overload: unloaded searches again")
    _unloaded_searches(stack, unloaded, errors)
    if errors:
        raise RuntimeError(f"{len(errors)} searches failed, e.g. {errors[0]}")
    notes = [
        f"{len(OFFERED)} clients offered {sum(OFFERED.values()):g} text jobs/s together for "
        f"{WINDOW_SECONDS:g} s (tests/integration/test_overload.py's load); {len(accepted)} "
        f"were accepted, {len(refused)} refused; {cancelled} still queued at the end were "
        "cancelled. One client searched at "
        f"{SEARCH_RATE:g} requests/s (POST /search, limit 5) throughout; the floor is the same "
        "searcher alone, before the flood and again after it drained.",
    ]
    return [
        latency_figure(
            "8. overload",
            f"POST /search while {len(OFFERED)} clients flood POST /ingest-async"
            " (workers ingesting)",
            "POST /search alone, same searcher, before and after the flood",
            [s * 1000 for s in loaded],
            [s * 1000 for s in unloaded],
            notes,
        )
    ]


def _cancel_queued(ctx: BenchContext, accepted: list[str]) -> int:
    """Cancel the flood's jobs still queued and wait until every one has ended."""
    cancelled = 0
    with ctx.stack.http() as c:
        for job_id in accepted:
            r = c.delete(f"/jobs/{job_id}")
            if r.status_code == 200 and r.json().get("status") == "cancelled":
                cancelled += 1
    redis = ctx.stack.redis_cli()
    try:

        def ended() -> bool:
            pipe = redis.pipeline(transaction=False)
            for job_id in accepted:
                pipe.hget(f"shield:job:{job_id}", "status")
            return {(v or b"missing").decode() for v in pipe.execute()} <= TERMINAL

        wait_until(ended, DRAIN_TIMEOUT, "the flood's jobs to end", interval=0.2)
    finally:
        redis.close()
    return cancelled
