"""Runtime feature flags on a real redis-server: a change made by one service reaches the
others within a few refreshes, survives new instances and a Redis restart (appendonly), is
audited with who and when, shows in the gauge, and a Redis outage keeps the last values.

Each "service" is a FeatureFlags with its own Redis client, as in separate processes. The
tests that restart or stop Redis get a redis-server of their own; the others share one per
module and keep apart by key prefix.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shield_rag.api.features import FeatureList, FeatureState
from shield_rag.features import FeatureDisabled, FeatureFlags
from shield_rag.redis_conn import make_redis
from shield_rag.settings import RedisSettings
from shield_rag.settings.features import FEATURE_NAMES, FeatureSettings
from tests.integration.stack import redis_server_binary
from tests.support.procs import ManagedProcess, free_port
from tests.support.wait import eventually, wait_until

pytestmark = pytest.mark.integration

FAST = FeatureSettings(refresh_seconds=0.05)
FLAGS_LOG = "shield_rag.features.flags"


class RedisServer:
    """One redis-server with appendonly on, restartable on the same port and directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: ManagedProcess | None = None

    def start(self) -> RedisServer:
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(data), "--appendonly", "yes", "--appendfsync", "always"]
        argv += ["--save", "", "--daemonize", "no", "--protected-mode", "yes"]
        self.proc = ManagedProcess("redis", argv, self.root).start()
        wait_until(self._pong, 20, "redis-server")
        return self

    def _pong(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("features")).start()
    yield server
    server.stop()


@pytest.fixture
def own(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture(loop_scope="function")  # the clients live on the test's loop
async def clients(shared: RedisServer) -> AsyncIterator[list[Redis]]:
    """Redis clients made as the services make theirs; closed after the test."""
    made: list[Redis] = []
    yield made
    for client in made:
        await client.aclose()


def service_redis(made: list[Redis], url: str) -> Redis:
    client = make_redis(RedisSettings(url=url), max_connections=4)
    made.append(client)
    return client


def quick_redis(made: list[Redis], url: str) -> Redis:
    """A client that fails at once when Redis is down (the services' clients retry for a few
    seconds first, which only makes an outage test slower)."""
    client = Redis.from_url(url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    made.append(client)
    return client


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("shield_feature_enabled", {"feature": name})


class Runner:
    """Services' refresh loops (FeatureFlags.run), stopped and awaited at the end."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, flags: FeatureFlags, **kwargs: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(flags.run(self.stop, **kwargs))
        self.tasks.append(task)
        return task

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 30)


@pytest_asyncio.fixture(loop_scope="function")
async def runner() -> AsyncIterator[Runner]:
    r = Runner()
    yield r
    await r.close()


class CountingFlags(FeatureFlags):
    """Counts its refreshes, so a test can wait for refresh cycles rather than for time."""

    refreshes = 0

    async def refresh(self) -> bool:
        self.refreshes += 1
        return await super().refresh()


async def test_a_change_by_one_service_reaches_another_and_a_reset_restores_the_default(
    shared: RedisServer, clients: list[Redis], prefix: str, runner: Runner
) -> None:
    orchestrator = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    worker = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    await orchestrator.refresh()
    runner.start(worker)
    await eventually(lambda: worker.state("crawling").source == "inventory", 5, "first read")
    assert worker.enabled("crawling") is True

    changed = await orchestrator.set("crawling", False, by="alice")
    assert changed.enabled is False and changed.source == "runtime"
    assert changed.changed_by == "alice" and changed.default is True
    assert orchestrator.enabled("crawling") is False  # its own change applies at once

    await eventually(lambda: not worker.enabled("crawling"), 5, "the worker sees crawling off")
    with pytest.raises(FeatureDisabled) as refused:
        worker.require("crawling")
    assert "PUT /admin/features/crawling" in str(refused.value)
    seen = worker.state("crawling")
    assert (seen.source, seen.changed_by) == ("runtime", "alice")
    assert seen.changed_at == changed.changed_at
    assert worker.enabled("streaming") is True  # the others untouched

    restored = await orchestrator.reset("crawling", by="bob")
    assert restored.enabled is True and restored.source == "inventory"
    await eventually(lambda: worker.enabled("crawling"), 5, "the worker sees crawling on again")
    worker.require("crawling")
    assert worker.state("crawling").changed_by is None


async def test_a_change_can_turn_on_what_the_inventory_turns_off(
    shared: RedisServer, clients: list[Redis], prefix: str
) -> None:
    one = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    assert one.enabled("router") is False
    await one.set("router", True, by="carol")
    other = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    await other.refresh()
    assert other.enabled("router") is True
    # A reset goes back to the inventory of the service that reads it.
    await one.reset("router", by="carol")
    await other.refresh()
    assert other.enabled("router") is False


async def test_changes_persist_for_instances_made_later(
    shared: RedisServer, clients: list[Redis], prefix: str
) -> None:
    first = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    await first.set("write_tools", False, by="ops")
    await first.set("graph_indexing", False, by="ops")
    await first.set("graph_indexing", True, by="ops")
    later = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    assert later.enabled("write_tools") is True  # nothing read yet: the inventory
    assert await later.refresh() is True
    assert later.enabled("write_tools") is False
    assert later.state("graph_indexing").source == "runtime"
    assert later.enabled("graph_indexing") is True


async def test_a_redis_restart_with_appendonly_keeps_the_changes(
    own: RedisServer, clients: list[Redis]
) -> None:
    before = FeatureFlags(FAST, service_redis(clients, own.url))
    await before.set("streaming", False, by="dave")
    own.stop()
    own.start()
    after = FeatureFlags(FAST, service_redis(clients, own.url))
    await after.refresh()
    assert after.enabled("streaming") is False
    assert after.state("streaming").changed_by == "dave"
    history = await after.history(10)
    assert [(h.name, h.enabled, h.by) for h in history] == [("streaming", False, "dave")]


async def test_the_gauge_follows_each_change(
    shared: RedisServer, clients: list[Redis], prefix: str
) -> None:
    one = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    assert [gauge(n) for n in ("router", "crawling")] == [0.0, 1.0]  # the inventory
    await one.set("crawling", False, by="erin")
    assert gauge("crawling") == 0.0
    other = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    assert gauge("crawling") == 1.0  # a new service starts from the inventory ...
    await other.refresh()
    assert gauge("crawling") == 0.0  # ... and follows the change once it has read it
    await one.reset("crawling", by="erin")
    await other.refresh()
    assert gauge("crawling") == 1.0
    assert all(gauge(n) is not None for n in FEATURE_NAMES)


async def test_every_change_is_audited_with_who_and_when(
    shared: RedisServer, clients: list[Redis], prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_700_000_000.0]
    flags = FeatureFlags(
        FAST, service_redis(clients, shared.url), key_prefix=prefix, clock=lambda: now[0]
    )
    caplog.set_level(logging.INFO, FLAGS_LOG)
    await flags.set("crawling", False, by="frank")
    now[0] += 60
    await flags.set("crawling", False, by="grace")
    now[0] += 60
    await flags.reset("crawling", by="heidi")
    history = await flags.history(10)
    assert [(h.action, h.name, h.enabled, h.was, h.by) for h in history] == [
        ("reset", "crawling", True, False, "heidi"),
        ("set", "crawling", False, False, "grace"),
        ("set", "crawling", False, True, "frank"),
    ]
    assert [h.at.timestamp() for h in history] == [1_700_000_120.0, 1_700_000_060.0, 1.7e9]
    assert [h.id for h in await flags.history(1)] == [history[0].id]
    messages = [r.getMessage() for r in caplog.records if r.name == FLAGS_LOG]
    assert "feature crawling turned off by frank (was on)" in messages
    assert "feature crawling turned on by heidi (was off)" in messages


async def test_unknown_names_are_refused_and_stored_ones_ignored(
    shared: RedisServer, clients: list[Redis], prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = service_redis(clients, shared.url)
    flags = FeatureFlags(FAST, redis, key_prefix=prefix)
    with pytest.raises(ValueError, match=r"teleport.*crawling"):
        flags.enabled("teleport")
    with pytest.raises(ValueError, match="teleport"):
        await flags.set("teleport", True, by="ivan")
    with pytest.raises(ValueError, match="by must name"):
        await flags.set("crawling", False, by="  ")
    assert await redis.get(f"{prefix}:features:version") is None  # nothing was written

    # What an older or newer release left behind: a feature this one does not know, and a
    # value it cannot read. Neither stops the known change from applying.
    await flags.set("streaming", False, by="judy")
    await redis.hset(f"{prefix}:features", "teleport", '{"enabled": true, "by": "x", "at": 1}')
    await redis.hset(f"{prefix}:features", "crawling", "not json")
    await redis.incr(f"{prefix}:features:version")
    caplog.set_level(logging.WARNING, "shield_rag.features")
    reader = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    await reader.refresh()
    assert reader.enabled("streaming") is False
    assert reader.enabled("crawling") is True
    assert set(reader.snapshot()) == set(FEATURE_NAMES)
    text = caplog.text
    assert "feature teleport is not known to this release" in text
    assert "feature crawling: the runtime change stored in Redis cannot be read" in text


async def test_a_refresh_with_nothing_changed_is_one_get(
    own: RedisServer, clients: list[Redis]
) -> None:
    flags = FeatureFlags(FAST, service_redis(clients, own.url))
    other = FeatureFlags(FAST, service_redis(clients, own.url))
    observer = service_redis(clients, own.url)
    await other.set("crawling", False, by="kim")
    assert await flags.refresh() is True  # the first read: version and hash

    async def commands() -> dict[str, int]:
        stats = await observer.info("commandstats")
        return {k: v["calls"] for k, v in stats.items() if k != "cmdstat_info"}

    start = await commands()
    assert await flags.refresh() is False
    assert await flags.refresh() is False
    quiet = await commands()
    assert {k: n - start.get(k, 0) for k, n in quiet.items() if n != start.get(k, 0)} == {
        "cmdstat_get": 2
    }

    await other.set("crawling", True, by="kim")
    start = await commands()
    assert await flags.refresh() is True
    moved = await commands()
    delta = {k: n - start.get(k, 0) for k, n in moved.items() if n != start.get(k, 0)}
    assert delta == {"cmdstat_get": 1, "cmdstat_hgetall": 1}
    assert flags.enabled("crawling") is True and flags.state("crawling").source == "runtime"


async def test_redis_down_keeps_the_last_values_and_the_loop_recovers(
    own: RedisServer, clients: list[Redis], runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, FLAGS_LOG)
    admin = FeatureFlags(FAST, quick_redis(clients, own.url))
    worker = CountingFlags(FAST, quick_redis(clients, own.url))
    await admin.set("graph_indexing", False, by="leo")
    task = runner.start(worker)
    await eventually(lambda: not worker.enabled("graph_indexing"), 5, "the change read")

    own.stop()
    seen = worker.refreshes
    await eventually(lambda: worker.refreshes >= seen + 5, 10, "refreshes during the outage")
    assert not task.done()
    assert worker.enabled("graph_indexing") is False  # the last known value stays
    assert gauge("graph_indexing") == 0.0
    outages = [r for r in caplog.records if "cannot read the runtime changes" in r.getMessage()]
    assert len(outages) == 1  # once per outage, not once per refresh

    own.start()
    await admin.set("graph_indexing", True, by="leo")
    await eventually(lambda: worker.enabled("graph_indexing"), 10, "the change after the outage")
    assert "feature flags: Redis answers again" in caplog.text
    assert not task.done()


async def test_a_service_without_redis_applies_what_the_orchestrator_reports(
    shared: RedisServer, clients: list[Redis], prefix: str, runner: Runner
) -> None:
    orchestrator = FeatureFlags(FAST, service_redis(clients, shared.url), key_prefix=prefix)
    mcp = FeatureFlags(FAST, None)
    await orchestrator.set("write_tools", False, by="mallory")

    def get_features() -> list[FeatureState]:
        """GET /features, through its JSON, as the MCP server reads it."""
        body = FeatureList(features=list(orchestrator.snapshot().values())).model_dump_json()
        return FeatureList.model_validate_json(body).features

    assert mcp.apply(get_features()) is True
    assert mcp.enabled("write_tools") is False
    assert mcp.state("write_tools") == orchestrator.state("write_tools")
    assert mcp.apply(get_features()) is False  # nothing new

    # The same through run(source=...), with a source that fails for a while.
    failing = [True]
    calls = [0]

    async def source() -> list[FeatureState]:
        calls[0] += 1
        if failing[0]:
            raise ConnectionError("orchestrator unreachable")
        return get_features()

    mcp_loop = FeatureFlags(FAST, None)
    mcp_loop.apply(get_features())
    runner.start(mcp_loop, source=source)
    await orchestrator.reset("write_tools", by="mallory")
    await orchestrator.set("streaming", False, by="mallory")
    await eventually(lambda: calls[0] >= 3, 5, "reads that fail")
    assert mcp_loop.enabled("write_tools") is False  # the last known values stay
    failing[0] = False
    await eventually(lambda: not mcp_loop.enabled("streaming"), 5, "streaming off via source")
    assert mcp_loop.enabled("write_tools") is True
    with pytest.raises(RuntimeError, match="apply"):
        await mcp_loop.refresh()
