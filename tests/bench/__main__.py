"""``python -m tests.bench`` (``make bench``): run the benchmarks, write the report and chart.

It starts the Shield stack once on 127.0.0.1 (``tests/integration/stack.py``: Redis, the
Qdrant and Ollama stand-ins unless ``SHIELD_TEST_QDRANT_URL`` / ``SHIELD_TEST_OLLAMA_URL``
name real ones, the LightRAG service and the orchestrator), then:

1. **without workers**, section 3 (accept latency): it floods the queue, and nobody may
   consume meanwhile; then the bench's own Redis database is flushed;
2. starts two workers and the MCP server, seeds the demo documents and some generated texts
   (so searches find something), and runs sections 1, 2, 4, 5, 6, 7 and 8 in that order
   (8, the job flood, last: the jobs it leaves are cancelled, but the workers were busy).

A section that raises is reported as failed with its error and the others still run; a
section whose module is missing is reported as not run. Everything started is stopped, by
PID, at the end. The report lists the sections in their numeric order: 1 qdrant_find,
2 lightrag, 3 accept, 4 sse, 5 breaker, 6 ingest, 7 converge, 8 overload (the names
``--skip`` and ``--only`` take, as do the numbers).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import redis
import yaml

from tests.bench.context import BenchContext, make_progress
from tests.bench.machine import describe
from tests.bench.report import RunInfo, SectionResult, write
from tests.bench.stats import Figure
from tests.bench.throughput import make_texts
from tests.demo_common import documents
from tests.integration.stack import Stack
from tests.mcp.server import McpServer

REPO = Path(__file__).resolve().parents[2]
# The redis role's durability default: the benchmarks measure Redis as a deployment runs it.
REDIS_DEFAULTS = REPO / "roles" / "redis" / "defaults" / "main.yml"
WORKERS = 2


@dataclass(frozen=True)
class Section:
    number: int
    key: str
    title: str
    target: str  # "module:function", the function taking a BenchContext
    needs_workers: bool = True


LATENCY = "tests.bench.latency"
SECTIONS = [
    Section(1, "qdrant_find", "qdrant_find: MCP vs direct search", f"{LATENCY}:run_qdrant_find"),
    Section(2, "lightrag", "lightrag_query: MCP vs direct", f"{LATENCY}:run_lightrag_query"),
    Section(3, "accept", "Accept latency under load (Locust)", "tests.bench.accept:run", False),
    Section(4, "sse", "Job event (SSE) latency", "tests.bench.sse_latency:run"),
    Section(5, "breaker", "Circuit breaker fast-fail while open", "tests.bench.breaker:run"),
    Section(6, "ingest", "Ingest throughput end to end", "tests.bench.throughput:run"),
    Section(7, "converge", "site.yml re-converge", "tests.bench.converge:run"),
    Section(8, "overload", "Search under a job flood", "tests.bench.overload:run"),
    Section(9, "models", "Model management: router and budget per call", "tests.bench.models:run"),
]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = ", ".join(f"{s.number} {s.key}" for s in SECTIONS)
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Benchmark the Shield stack against its floors; see tests/bench/__main__.py.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "benchmarks",
        help="directory for report.md and latency.png (default: docs/benchmarks)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke version: a few seconds per section"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="SECTION",
        help=f"leave a section out (name or number, repeatable or comma-separated): {names}",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="SECTION", help="run only these sections"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the scratch directory with the logs"
    )
    return parser.parse_args(argv)


def selected(names: list[str]) -> set[int]:
    """Section numbers named by ``--skip``/``--only`` values (names or numbers)."""
    wanted = {n.strip() for value in names for n in value.split(",") if n.strip()}
    by_name = {s.key: s.number for s in SECTIONS} | {str(s.number): s.number for s in SECTIONS}
    unknown = wanted - set(by_name)
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; known: {sorted(by_name)}")
    return {by_name[n] for n in wanted}


def load(section: Section) -> Callable[[BenchContext], list[Figure]] | str:
    """The section's function, or why it cannot be run (its module is missing)."""
    module_name, _unused, function = section.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return f"{module_name.replace('.', '/')}.py is not in this checkout"
        raise
    found = getattr(module, function, None)
    if found is None:
        return f"{module_name} has no {function}()"
    return found  # type: ignore[no-any-return]


def run_section(section: Section, ctx: BenchContext) -> SectionResult:
    result = SectionResult(section.number, section.key, section.title)
    ctx.progress(f"section {section.number}: {section.title}")
    started = time.monotonic()
    try:
        target = load(section)
        if isinstance(target, str):
            result.status, result.reason = "not run", target
        else:
            result.figures = list(target(ctx))
            result.status = "ok"
    except Exception as exc:  # noqa: BLE001 - a failing section must not lose the others
        traceback.print_exc()
        result.status = "failed"
        result.reason = f"{type(exc).__name__}: {str(exc)[:600]}"
    result.seconds = time.monotonic() - started
    ctx.progress(f"section {section.number}: {result.status} in {result.seconds:.1f} s")
    return result


def backends(stack: Stack) -> list[str]:
    """Which Qdrant and Ollama served the run: the stand-ins unless real ones were named."""
    if stack.qdrant is None:
        qdrant = f"Qdrant: a real Qdrant server at {stack.qdrant_url} (SHIELD_TEST_QDRANT_URL)."
    else:
        qdrant = (
            "Qdrant: the **stand-in** (tests/standins/qdrant: Qdrant's REST API over "
            "qdrant-client's local engine), not a real Qdrant server; set "
            "SHIELD_TEST_QDRANT_URL to measure a real one."
        )
    if stack.ollama is None:
        ollama = f"Ollama: a real Ollama at {stack.ollama_url} (SHIELD_TEST_OLLAMA_URL)."
    else:
        ollama = (
            "Ollama: the **stand-in** (tests/standins/ollama: Ollama's API with a deterministic "
            "lexical embedder and an extractive answerer, no neural model), so embedding and "
            "LLM work is far cheaper than with real models: the floors are small and the "
            "ratios show the services' overhead at its most visible; set "
            "SHIELD_TEST_OLLAMA_URL to measure a real one."
        )
    return [qdrant, ollama]


def seed(stack: Stack, generated: int, progress: Callable[[str], None]) -> str:
    """Ingest the demo documents and ``generated`` texts; wait until all succeeded."""
    jobs: list[tuple[str, str]] = []
    with stack.http(timeout=60) as http:
        for name, data in documents():
            r = http.post("/ingest-async", files={"file": (name, data)})
            r.raise_for_status()
            jobs.append((name, r.json()["job_id"]))
        for i, text in enumerate(make_texts(generated, seed=3)):
            body = {"type": "text", "text": text, "source": f"bench-seed-{i}"}
            r = http.post("/ingest-async", json=body)
            r.raise_for_status()
            jobs.append((f"generated text {i}", r.json()["job_id"]))
    progress(f"seeding: {len(jobs)} documents submitted, waiting for the workers")
    chunks = 0
    for name, job_id in jobs:
        job = stack.wait_job(job_id, timeout=180)
        if job["status"] != "succeeded":
            raise RuntimeError(f"seeding {name} ended {job['status']}: {job.get('error')}")
        chunks += int(job["result"]["chunks"])
    return f"Seeded {len(jobs)} documents ({chunks} chunks): the demo documents and " + (
        f"{generated} generated field reports, before sections 1, 2 and 4 to 7."
    )


def flush_redis(stack: Stack) -> None:
    """Empty the bench's own Redis database (the queue section 3 filled)."""
    client = redis.Redis(host="127.0.0.1", port=stack.redis_port, db=0)
    try:
        client.flushdb()
    finally:
        client.close()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skipped = selected(args.skip)
    only = selected(args.only)
    run_numbers = {s.number for s in SECTIONS if (not only or s.number in only)} - skipped
    started = time.monotonic()
    progress = make_progress(started)
    signal.signal(signal.SIGTERM, _terminate)
    root = Path(tempfile.mkdtemp(prefix="shield-bench-"))
    results = {
        s.number: SectionResult(s.number, s.key, s.title, "skipped", reason="--skip/--only")
        for s in SECTIONS
        if s.number not in run_numbers
    }
    notes: list[str] = []
    machine = describe(REPO)
    progress(f"scratch directory {root}; starting the stack (no workers yet)")
    # The benchmarks measure the API's capacity: admission stays on (its Redis calls are part of
    # every request) with limits the closed-loop Locust users never reach, and Redis has room
    # for the thousands of jobs they queue. Redis flushes its append-only file as the redis
    # role deploys it (the tests flush on every write).
    appendfsync = yaml.safe_load(REDIS_DEFAULTS.read_text(encoding="utf-8"))["redis_appendfsync"]
    notes.append(
        f"Redis ran with the append-only file flushed as the redis role deploys it by default "
        f"(appendfsync {appendfsync}, `redis_appendfsync` in roles/redis/defaults/main.yml); the "
        "tests run it with appendfsync always. With `redis_appendfsync: always` every write, a "
        "job's accept included, waits for the disk."
    )
    stack = Stack(
        root,
        workers=0,
        lightrag=True,
        redis_maxmemory="1gb",
        redis_appendfsync=appendfsync,
        admission_overrides={
            "client_requests_per_second": 1_000_000,
            "client_burst": 1_000_000,
            "client_max_queued_jobs": 10_000_000,
            "max_queued_jobs": 10_000_000,
        },
    )
    mcp: McpServer | None = None
    try:
        try:
            stack.start()
        except Exception:
            print(f"the stack did not start; logs under {root / 'logs'}", file=sys.stderr)
            raise
        ctx = BenchContext(stack, None, root, args.quick, progress, REPO, started)
        progress(f"stack up: orchestrator {stack.base_url}")
        for section in SECTIONS:
            if section.number in run_numbers and not section.needs_workers:
                results[section.number] = run_section(section, ctx)
        flush_redis(stack)
        if any(s.needs_workers for s in SECTIONS if s.number in run_numbers):
            for i in range(WORKERS):
                stack.start_worker(f"w{i + 1}")
            progress(f"{WORKERS} workers up; starting the MCP server")
            try:
                mcp = McpServer(stack, root).start()
                ctx.mcp = mcp
            except Exception as exc:  # noqa: BLE001 - the sections that need it fail alone
                notes.append(f"the MCP server did not start: {exc}")
            try:
                notes.append(seed(stack, 4 if args.quick else 16, progress))
            except Exception as exc:  # noqa: BLE001 - reported; the sections still run
                traceback.print_exc()
                notes.append(f"seeding failed: {type(exc).__name__}: {exc}")
            for section in SECTIONS:
                if section.number in run_numbers and section.needs_workers:
                    results[section.number] = run_section(section, ctx)
        sections = [results[s.number] for s in SECTIONS]
        run = RunInfo(
            machine=machine,
            backends=backends(stack),
            quick=args.quick,
            wall_seconds=time.monotonic() - started,
            command=shlex.join(["python", "-m", "tests.bench", *(argv or sys.argv[1:])]),
            notes=notes,
        )
        md, png = write(args.out, run, sections)
    finally:
        progress("stopping everything this run started")
        if mcp is not None:
            mcp.stop()
        stack.stop()
    failed = [s for s in sections if s.status in ("failed", "not run")]
    progress(f"report: {md}  chart: {png}")
    for s in sections:
        print(f"  {s.heading:<48} {s.status:<8} {len(s.figures)} figures  {s.seconds:6.1f} s")
    if failed or args.keep_logs:
        print(f"logs kept under {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if any(s.status == "failed" for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
