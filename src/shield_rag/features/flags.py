"""The feature flags a service applies: the inventory's defaults plus the runtime changes.

Each service holds the flags in memory, so ``enabled``/``require`` cost a dict lookup.
Services with Redis (orchestrator replicas, workers) re-read the changes every
``features.refresh_seconds`` with :meth:`FeatureFlags.run`; a re-read that finds the version
counter unchanged costs one GET. The MCP server has no Redis: it passes ``run`` a ``source``
that reads the orchestrator's ``GET /features``, or calls :meth:`FeatureFlags.apply` itself.

When Redis (or the source) cannot be read, the last known values stay and the outage is
logged once; a change stored for a feature this release does not know (after an upgrade or a
rollback) is ignored with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from shield_rag.api.features import FeatureChangeRecord, FeatureState
from shield_rag.errors import ShieldError
from shield_rag.features.metrics import FEATURE_ENABLED
from shield_rag.features.store import FeatureStore, Override, parse_override
from shield_rag.settings.features import FEATURE_NAMES, FeatureSettings, check_feature_name

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

MAX_BY_CHARS = 200

# Something that yields the changes in force as another service applies them (the MCP
# server: the orchestrator's GET /features).
StateSource = Callable[[], Awaitable[Iterable[FeatureState]]]


class FeatureDisabled(ShieldError):
    """A feature that is turned off was asked for; the message says how to turn it on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.setting = f"features.{name}"
        super().__init__(
            f"feature {name!r} is turned off ({self.setting}); an admin can turn it back on "
            f"with PUT /admin/features/{name}"
        )


def _on(value: bool) -> str:
    return "on" if value else "off"


class FeatureFlags:
    """The flags of one service. ``redis`` None: the changes come through :meth:`apply`
    (or ``run(stop, source=...)``) instead."""

    def __init__(
        self,
        defaults: FeatureSettings,
        redis: Redis | None,
        *,
        key_prefix: str = "shield:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.defaults = defaults
        self._store = None if redis is None else FeatureStore(redis, key_prefix)
        self._clock = clock
        self._overrides: dict[str, Override] = {}
        self._version: int | None = None
        self._loaded = False
        self._ignored: set[str] = set()
        self._publish()

    # -- reading, from memory --------------------------------------------------------------

    def enabled(self, name: str) -> bool:
        """Whether feature ``name`` is on in this service now (ValueError for an unknown
        name, naming the known ones)."""
        default = self.defaults.default(name)
        override = self._overrides.get(name)
        return default if override is None else override.enabled

    def require(self, name: str) -> None:
        """Raise :class:`FeatureDisabled` when feature ``name`` is off."""
        if not self.enabled(name):
            raise FeatureDisabled(name)

    def state(self, name: str) -> FeatureState:
        """Feature ``name`` as this service applies it, with where its value comes from."""
        default = self.defaults.default(name)
        override = self._overrides.get(name)
        if override is None:
            return FeatureState(name=name, enabled=default, default=default, source="inventory")
        return FeatureState(
            name=name,
            enabled=override.enabled,
            default=default,
            source="runtime",
            changed_by=override.by,
            changed_at=override.changed_at,
        )

    def snapshot(self) -> dict[str, FeatureState]:
        """Every feature, in :data:`FEATURE_NAMES` order."""
        return {name: self.state(name) for name in FEATURE_NAMES}

    # -- applying changes --------------------------------------------------------------------

    def _install(self, overrides: dict[str, Override]) -> bool:
        """Apply ``overrides`` (every change in force, replacing the previous ones), dropping
        names this release does not know; True when any value or its origin changed."""
        known: dict[str, Override] = {}
        for name, override in overrides.items():
            if name in FEATURE_NAMES:
                known[name] = override
            elif name not in self._ignored:
                self._ignored.add(name)
                log.warning(
                    "feature %s is not known to this release (the features are: %s); its "
                    "runtime change (%s by %s) is ignored",
                    name,
                    ", ".join(FEATURE_NAMES),
                    _on(override.enabled),
                    override.by,
                )
        changed = known != self._overrides
        if changed:
            before = {name: self.enabled(name) for name in FEATURE_NAMES}
            self._overrides = known
            for name in FEATURE_NAMES:
                if self.enabled(name) != before[name]:
                    log.info("feature %s is now %s in this service", name, _on(not before[name]))
        self._publish()
        return changed

    def _publish(self) -> None:
        for name in FEATURE_NAMES:
            FEATURE_ENABLED.labels(feature=name).set(1 if self.enabled(name) else 0)

    def apply(self, states: Iterable[FeatureState]) -> bool:
        """Apply the features as another service reports them (``GET /features``): its
        runtime changes become this service's; features it reports with their inventory
        value follow this service's own inventory. True when anything changed."""
        overrides = {
            state.name: Override(
                enabled=state.enabled,
                by=state.changed_by,
                at=None if state.changed_at is None else state.changed_at.timestamp(),
            )
            for state in states
            if state.source == "runtime"
        }
        return self._install(overrides)

    async def refresh(self) -> bool:
        """Re-read the runtime changes from Redis: one GET of the version counter, and the
        hash only when the counter moved (or on the first call). True when it re-read them.
        Redis errors propagate; the values in memory stay as they were."""
        store = self._require_store()
        version = await store.version()
        if self._loaded and version == self._version:
            return False
        raw = await store.overrides()
        overrides: dict[str, Override] = {}
        for name, value in raw.items():
            override = parse_override(name, value)
            if override is not None:
                overrides[name] = override
        self._install(overrides)
        self._version = version
        self._loaded = True
        return True

    async def run(
        self, stop: asyncio.Event, *, source: StateSource | None = None, read_timeout: float = 10.0
    ) -> None:
        """Re-read the changes every ``features.refresh_seconds`` until ``stop`` is set: from
        Redis, or from ``source`` when given. A failing read keeps the last known values and
        is logged once per outage; a read that takes longer than ``read_timeout`` seconds fails."""
        where = "Redis" if source is None else "the orchestrator"
        failing = False
        while not stop.is_set():
            try:
                if source is None:
                    await asyncio.wait_for(self.refresh(), read_timeout)
                else:
                    self.apply(await asyncio.wait_for(source(), read_timeout))
            except Exception as exc:  # noqa: BLE001 - any failure keeps the last values
                if not failing:
                    failing = True
                    log.warning(
                        "feature flags: cannot read the runtime changes from %s (%s: %s); "
                        "the last known values stay until it answers",
                        where,
                        type(exc).__name__,
                        exc,
                    )
            else:
                if failing:
                    failing = False
                    log.info("feature flags: %s answers again; runtime changes apply", where)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.defaults.refresh_seconds)

    # -- changing, for every service --------------------------------------------------------

    def _require_store(self) -> FeatureStore:
        if self._store is None:
            raise RuntimeError(
                "these feature flags have no Redis: changes reach them through apply() "
                "(the MCP server reads them from the orchestrator's GET /features)"
            )
        return self._store

    async def _write(self, name: str, enabled: bool | None, by: str) -> FeatureState:
        check_feature_name(name)
        who = by.strip()
        if not who or len(who) > MAX_BY_CHARS:
            raise ValueError(f"by must name who makes the change (1 to {MAX_BY_CHARS} characters)")
        default = self.defaults.default(name)
        at = self._clock()
        written = await self._require_store().write(name, enabled, default=default, by=who, at=at)
        after = default if enabled is None else enabled
        log.info("feature %s turned %s by %s (was %s)", name, _on(after), who, _on(written.was))
        # This service applies its own change at once; the next refresh re-reads everything
        # (the version it remembers is older than the one this change made).
        overrides = dict(self._overrides)
        if enabled is None:
            overrides.pop(name, None)
        else:
            overrides[name] = Override(enabled=enabled, by=who, at=at)
        self._overrides = overrides
        self._publish()
        return self.state(name)

    async def set(self, name: str, enabled: bool, by: str) -> FeatureState:
        """Turn feature ``name`` on or off for every service, recording ``by`` (who) and
        when; kept until changed or reset."""
        return await self._write(name, enabled, by)

    async def reset(self, name: str, by: str) -> FeatureState:
        """Drop the runtime change of ``name``: it follows the inventory again."""
        return await self._write(name, None, by)

    async def history(self, limit: int = 100) -> list[FeatureChangeRecord]:
        """The last ``limit`` changes (1 to 1000), newest first."""
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")
        return await self._require_store().history(limit)
