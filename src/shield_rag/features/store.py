"""Where runtime feature changes live in Redis, and how they are written and read.

Keys (``prefix`` is the deployment's ``redis.key_prefix``; a missing ``:`` is added):

- ``{prefix}:features`` — a hash, feature name → JSON ``{"enabled": bool, "by": str,
  "at": epoch seconds}``: the runtime changes in force. A feature without a field follows
  the inventory.
- ``{prefix}:features:version`` — a counter raised by every change, so that a service finds
  out that nothing changed with one GET and reads the hash only when it did.
- ``{prefix}:features:log`` — a stream (trimmed to about :data:`AUDIT_MAXLEN` entries), one
  entry per change: ``feature``, ``enabled``, ``was`` (``1``/``0``), ``action``
  (``set``/``reset``), ``by``, ``at``.

A change writes all three in one Lua script, so a service never sees a change without its
version bump nor an audit entry for a change that was not made. This module never imports
the ``redis`` package itself (only for type checking): a service without Redis, the MCP
server, can use the flags without loading it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shield_rag.api.features import FeatureChangeRecord

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

AUDIT_MAXLEN = 1000

CHANGE = """
-- KEYS: 1 overrides hash, 2 version counter, 3 audit stream
-- ARGV: 1 feature, 2 override json ('' = remove it: back to the inventory), 3 enabled after
--       ('1'/'0'), 4 the inventory's value ('1'/'0'), 5 by, 6 at, 7 action, 8 audit maxlen
-- Returns {was ('1'/'0'), new version, audit entry id}.
local previous = redis.call('HGET', KEYS[1], ARGV[1])
local was = ARGV[4]
if previous then
  local ok, decoded = pcall(cjson.decode, previous)
  if ok and type(decoded) == 'table' and type(decoded['enabled']) == 'boolean' then
    if decoded['enabled'] then was = '1' else was = '0' end
  end
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local version = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'feature', ARGV[1],
  'enabled', ARGV[3], 'was', was, 'action', ARGV[7], 'by', ARGV[5], 'at', ARGV[6])
return {was, version, id}
"""


@dataclass(frozen=True)
class Override:
    """A runtime change in force: the value, who set it and when (epoch seconds)."""

    enabled: bool
    by: str | None
    at: float | None

    @property
    def changed_at(self) -> datetime | None:
        return None if self.at is None else datetime.fromtimestamp(self.at, UTC)


@dataclass(frozen=True)
class Written:
    """What a change found and did: the value before it, and the version it made."""

    was: bool
    version: int


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def parse_override(name: str, raw: bytes | str) -> Override | None:
    """The override stored for ``name``; None (with a warning) when it cannot be read."""
    try:
        data = json.loads(raw)
        enabled = data["enabled"]
        if not isinstance(enabled, bool):
            raise TypeError("enabled is not a boolean")
        by = data.get("by")
        at = data.get("at")
        return Override(
            enabled=enabled,
            by=None if by is None else str(by),
            at=None if at is None else float(at),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning(
            "feature %s: the runtime change stored in Redis cannot be read (%s: %r); the "
            "inventory's value applies until an admin sets or resets it",
            name,
            exc,
            _text(raw)[:200],
        )
        return None


class FeatureStore:
    """The runtime feature changes of one deployment in one Redis."""

    def __init__(self, redis: Redis, key_prefix: str = "shield:") -> None:
        prefix = key_prefix if key_prefix.endswith(":") else key_prefix + ":"
        self.redis = redis
        self.hash_key = f"{prefix}features"
        self.version_key = f"{prefix}features:version"
        self.log_key = f"{prefix}features:log"
        self._change = redis.register_script(CHANGE)

    async def version(self) -> int | None:
        """The change counter (None: no change was ever made, or Redis lost its data)."""
        raw = await self.redis.get(self.version_key)
        return None if raw is None else int(raw)

    async def overrides(self) -> dict[str, bytes | str]:
        """Every stored change, raw (feature name → JSON)."""
        raw: dict[Any, Any] = await self.redis.hgetall(self.hash_key)
        return {_text(k): v for k, v in raw.items()}

    async def write(
        self, name: str, enabled: bool | None, *, default: bool, by: str, at: float
    ) -> Written:
        """Turn ``name`` on or off (``enabled`` None: back to the inventory's ``default``),
        with the version bump and the audit entry, atomically."""
        value = "" if enabled is None else json.dumps({"enabled": enabled, "by": by, "at": at})
        after = default if enabled is None else enabled
        was, version, _unused = await self._change(
            keys=[self.hash_key, self.version_key, self.log_key],
            args=[
                name,
                value,
                "1" if after else "0",
                "1" if default else "0",
                by,
                repr(at),
                "reset" if enabled is None else "set",
                AUDIT_MAXLEN,
            ],
        )
        return Written(was=_text(was) == "1", version=int(version))

    async def history(self, limit: int) -> list[FeatureChangeRecord]:
        """The last ``limit`` changes, newest first."""
        entries = await self.redis.xrevrange(self.log_key, count=limit) or []
        records: list[FeatureChangeRecord] = []
        for entry_id, fields in entries:
            if entry_id is None or fields is None:
                continue
            data = {_text(k): _text(v) for k, v in fields.items()}
            records.append(
                FeatureChangeRecord(
                    id=_text(entry_id),
                    name=data.get("feature", ""),
                    enabled=data.get("enabled") == "1",
                    was=data.get("was") == "1",
                    action="reset" if data.get("action") == "reset" else "set",
                    by=data.get("by", ""),
                    at=datetime.fromtimestamp(float(data.get("at", "0")), UTC),
                )
            )
        return records
