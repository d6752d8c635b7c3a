"""What each client has spent on model calls this period, and whether it may make another.

State lives in Redis, so it survives a restart and every orchestrator replica shares it. A call
first *reserves* (one Lua script: refused once the period's spend plus the holds of calls in
progress reach a limit, else a hold of R tokens / R's cost is added), then *settles* (one
script: the hold goes, the call's real counts are added) or *releases* (used nothing). Because
admission counts the holds of calls in progress, calls admitted together cannot overspend: as
long as each call costs at most its hold, the period's spend ends below the limit plus the
cost of one call. A hold lapses after ``accounting.reservation_seconds``, so a replica that
crashed mid-call cannot keep a client's budget forever.

Spend is counted in both the day's and the month's hash whatever the client's budget says, so
a budget's period can change without losing count, and ``record`` (ingest-time graph
extraction) needs no budget. Keys (``{prefix}`` is the deployment's ``redis.key_prefix`` and a
``:``; client names percent-encoded)::

    {prefix}budget:{2026-12|2026-12-06}:{client}  hash  tokens_in, tokens_out, tokens, cost
                                                        (micro-units), compute_ms, calls, and
                                                        the same per model: tokens_in:<model>
    {prefix}budget:clients:{period id}            set   clients with data in that period
    {prefix}budget:calls:{client}                 hash  res:<id> = "tokens cost expires_ms",
                                                        peak_tokens:<model>, peak_cost:<model>
    {prefix}budget:settled:{client}               zset  reservation ids settled or released

Period keys expire 40 days after their period ends; the calls hash (holds and largest calls)
40 days after the end of the month it was last written in; settled ids 2 days after the last.
The scripts and what each guarantees: :mod:`shield_rag.llm.budget_scripts`.

Why spend stays below the limit plus one call: admission needs spend + holds < limit, an
admitted call adds its hold R, and settling swaps R for the call's cost C <= R, so spend +
holds never grows by settling. When the last call is admitted, spend + holds < limit; every
call then running ends with C <= its hold, and the last one adds its own C: the final spend is
below the limit plus that last call's cost. (A hold that lapsed before its call settled breaks
this, by design: a crashed replica must not lock a client out.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from shield_rag.llm import budget_scripts
from shield_rag.llm.budget_types import (
    BudgetExceeded,
    BudgetStatus,
    LimitKind,
    ModelUsage,
    Period,
    PeriodKind,
    Reservation,
    Spent,
    period_of,
)
from shield_rag.llm.prices import (
    cost_micros,
    decimal_to_micros,
    micros_to_decimal,
    token_price_nanos,
)
from shield_rag.settings.accounting import AccountingSettings, BudgetSettings

__all__ = [
    "HISTORY",
    "BudgetExceeded",
    "BudgetLedger",
    "BudgetStatus",
    "ModelUsage",
    "Period",
    "PeriodKind",
    "Reservation",
    "Spent",
    "period_of",
]

HISTORY = timedelta(days=40)  # how long a period's figures stay readable after it ends
SETTLED_KEEP_MS = 2 * 86_400_000  # a repeated settle within this is recognised


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _usage(fields: dict[str, int], suffix: str = "") -> ModelUsage:
    return ModelUsage(
        tokens_in=fields.get("tokens_in" + suffix, 0),
        tokens_out=fields.get("tokens_out" + suffix, 0),
        cost=micros_to_decimal(fields.get("cost" + suffix, 0)),
        compute_seconds=fields.get("compute_ms" + suffix, 0) / 1000,
        calls=fields.get("calls" + suffix, 0),
    )


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"the {what} name must be a non-empty string, got {value!r}")
    return value


class BudgetLedger:
    """Budgets and accounting of model calls per client, in Redis (see the module)."""

    def __init__(
        self,
        redis: Redis,
        settings: AccountingSettings,
        *,
        key_prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``key_prefix``: the deployment's ``redis.key_prefix`` (a ``:`` is added)."""
        self._redis = redis
        self._settings = settings
        self._prefix = key_prefix.removesuffix(":") + ":budget:"
        self._clock = clock
        # register_script: EVALSHA, and on NOSCRIPT (a restarted Redis) SCRIPT LOAD and again.
        self._reserve = redis.register_script(budget_scripts.RESERVE)
        self._settle = redis.register_script(budget_scripts.SETTLE)
        self._release = redis.register_script(budget_scripts.RELEASE)

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def _client_key(self, kind: str, client: str) -> str:
        return self._key(kind, quote(client, safe=""))

    def _lifetime_ms(self, period: Period, now: float) -> int:
        """How long a key of ``period`` lives from ``now``: until its reset plus HISTORY."""
        return int(((period.reset_at + HISTORY).timestamp() - now) * 1000)

    # -- the calls ----------------------------------------------------------------------------

    def budget_of(self, own: BudgetSettings | None) -> BudgetSettings | None:
        """The budget that applies to a client: its own, else ``accounting.default_budget``."""
        return own if own is not None else self._settings.default_budget

    async def reserve(self, client: str, budget: BudgetSettings | None, model: str) -> Reservation:
        """Hold budget for one call of ``model``; BudgetExceeded when a limit of ``budget``
        is reached (``budget`` None: no limit, the call is still held and counted)."""
        _name(client, "client")
        _name(model, "model")
        now = self._clock()
        period = period_of(budget.period if budget is not None else "monthly", now)
        hold_ends = now + self._settings.reservation_seconds
        rid = uuid.uuid4().hex
        max_tokens: int | str = ""  # '' tells the script: no such limit
        max_cost: int | str = ""
        if budget is not None and budget.max_tokens is not None:
            max_tokens = budget.max_tokens
        if budget is not None and budget.max_cost is not None:
            max_cost = decimal_to_micros(budget.max_cost)
        reply = await self._reserve(
            keys=[
                self._client_key(period.id, client),
                self._client_key("calls", client),
                self._key("clients", period.id),
            ],
            args=[
                int(now * 1000),
                rid,
                model,
                self._settings.reservation_tokens,
                token_price_nanos(self._settings.prices, model),
                int(hold_ends * 1000),
                max_tokens,
                max_cost,
                client,
                self._lifetime_ms(period_of("monthly", now), now),
                self._lifetime_ms(period, now),
            ],
        )
        if int(reply[0]) == 0:
            assert budget is not None  # refusals need a limit
            kind: LimitKind = "tokens" if _text(reply[1]) == "tokens" else "cost"
            spent, held = int(reply[2]), int(reply[3])
            if kind == "tokens":
                raise BudgetExceeded(
                    client,
                    period.kind,
                    period.reset_at,
                    kind,
                    budget.max_tokens or 0,
                    spent,
                    reserved=held,
                    currency=self._settings.currency,
                )
            raise BudgetExceeded(
                client,
                period.kind,
                period.reset_at,
                kind,
                budget.max_cost or Decimal(0),
                micros_to_decimal(spent),
                reserved=micros_to_decimal(held),
                currency=self._settings.currency,
            )
        return Reservation(
            id=rid,
            client=client,
            model=model,
            tokens=int(reply[1]),
            cost_micros=int(reply[2]),
            expires_at=datetime.fromtimestamp(hold_ends, UTC),
        )

    async def settle(
        self,
        reservation: Reservation,
        prompt_tokens: int,
        completion_tokens: int,
        compute_seconds: float,
    ) -> Spent:
        """End ``reservation`` and count what the call used; a second settle, or one after
        ``release``, counts nothing (``Spent.counted`` False). A call that outlived its hold
        is still counted: it ran."""
        return await self._count(
            reservation.client,
            reservation.model,
            prompt_tokens,
            completion_tokens,
            compute_seconds,
            reservation.id,
        )

    async def record(
        self,
        client: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        compute_seconds: float,
    ) -> Spent:
        """Count a call made without a reservation (graph extraction at ingest): never
        refused, and it leaves the client's largest-call figure alone."""
        return await self._count(client, model, prompt_tokens, completion_tokens, compute_seconds)

    async def release(self, reservation: Reservation) -> bool:
        """Give back the hold of a call that used nothing; True when it was still held.
        A reservation settled before is left alone, and a later settle counts nothing."""
        now_ms = int(self._clock() * 1000)
        removed = await self._release(
            keys=[
                self._client_key("calls", reservation.client),
                self._client_key("settled", reservation.client),
            ],
            args=[now_ms, reservation.id, SETTLED_KEEP_MS],
        )
        return int(removed) == 1

    async def _count(
        self,
        client: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        compute_seconds: float,
        reservation_id: str = "",
    ) -> Spent:
        _name(client, "client")
        _name(model, "model")
        micros = cost_micros(
            self._settings.prices, model, prompt_tokens, completion_tokens, compute_seconds
        )
        compute_ms = int(Decimal(str(compute_seconds)) * 1000 + Decimal("0.5"))
        now = self._clock()
        month, day = period_of("monthly", now), period_of("daily", now)
        counted = await self._settle(
            keys=[
                self._client_key("calls", client),
                self._client_key("settled", client),
                self._client_key(month.id, client),
                self._client_key(day.id, client),
                self._key("clients", month.id),
                self._key("clients", day.id),
            ],
            args=[
                int(now * 1000),
                reservation_id,
                model,
                prompt_tokens,
                completion_tokens,
                prompt_tokens + completion_tokens,
                micros,
                compute_ms,
                self._lifetime_ms(month, now),
                self._lifetime_ms(day, now),
                client,
                SETTLED_KEEP_MS,
                self._lifetime_ms(month, now),
            ],
        )
        return Spent(
            client=client,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            compute_seconds=float(compute_seconds),
            cost_micros=micros,
            counted=int(counted) == 1,
        )

    # -- reading ------------------------------------------------------------------------------

    async def status(self, client: str, budget: BudgetSettings | None) -> BudgetStatus:
        """``client``'s current period under ``budget`` (None: monthly, no limits)."""
        _name(client, "client")
        now = self._clock()
        period = period_of(budget.period if budget is not None else "monthly", now)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._client_key(period.id, client))
            pipe.hgetall(self._client_key("calls", client))
            spent_raw, calls_raw = await pipe.execute()
        fields = {_text(k): int(v) for k, v in spent_raw.items()}
        held_tokens = held_micros = in_flight = 0
        for name, value in calls_raw.items():
            if _text(name).startswith("res:"):
                tokens, micros, expires_ms = (int(x) for x in _text(value).split())
                if expires_ms > now * 1000:
                    held_tokens, held_micros = held_tokens + tokens, held_micros + micros
                    in_flight += 1
        models = sorted({k.split(":", 1)[1] for k in fields if ":" in k})
        usage = _usage(fields)
        max_tokens = budget.max_tokens if budget is not None else None
        max_cost = budget.max_cost if budget is not None else None
        left_tokens = None
        if max_tokens is not None:
            left_tokens = max(0, max_tokens - usage.tokens - held_tokens)
        left_cost = None
        if max_cost is not None:
            spent_micros = fields.get("cost", 0) + held_micros
            left_cost = micros_to_decimal(max(0, decimal_to_micros(max_cost) - spent_micros))
        return BudgetStatus(
            client=client,
            period=period,
            currency=self._settings.currency,
            usage=usage,
            reserved_tokens=held_tokens,
            reserved_cost=micros_to_decimal(held_micros),
            in_flight=in_flight,
            max_tokens=max_tokens,
            max_cost=max_cost,
            remaining_tokens=left_tokens,
            remaining_cost=left_cost,
            models={m: _usage(fields, ":" + m) for m in models},
        )

    async def clients(self, period: PeriodKind = "monthly") -> list[str]:
        """Clients with data (spend or a hold) in the current ``period``, sorted."""
        current = period_of(period, self._clock())
        members = await self._redis.smembers(self._key("clients", current.id))
        return sorted(_text(m) for m in members)
