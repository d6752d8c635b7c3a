"""The model calls a client's request makes, managed: which model (per-call choice, the router,
the feature flags), whether the client's budget allows the call, and what it used.

A LightRAG query is held against its client's budget before it is sent (429
``budget_exceeded`` with the reset time when the budget is spent: see
:class:`~shield_rag.llm.budgets.BudgetLedger`, whose holds keep concurrent calls from
overspending by more than one call) and accounted with Ollama's own counts when it answers:
tokens in and out, compute seconds and cost by :mod:`~shield_rag.llm.prices`, recorded in
Redis per client and period and in the metrics by client and model. A call that fails gives
its hold back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.features import FeatureFlags
from shield_rag.llm.budgets import BudgetExceeded, BudgetLedger, Reservation
from shield_rag.llm.metrics import observe
from shield_rag.llm.usage import Usage
from shield_rag.orchestrator.auth import Caller
from shield_rag.orchestrator.metrics import (
    BUDGET_REFUSALS,
    BUDGET_REMAINING,
    ROUTER_DECISIONS,
)
from shield_rag.settings import Settings
from shield_rag.settings.accounting import BudgetSettings

log = logging.getLogger(__name__)
AUTO = "auto"
GAUGE_SECONDS = 30.0  # how often the budget gauges are read again from Redis


class ModelCalls:
    """One replica's view of model calls: settings, the budget ledger, the feature flags."""

    def __init__(self, settings: Settings, ledger: BudgetLedger, features: FeatureFlags) -> None:
        self.settings = settings
        self.ledger = ledger
        self.features = features
        self._budgets = {name: c.budget for name, c in settings.orchestrator.clients.items()}
        self._gauged: set[str] = set()  # clients whose budget gauge this replica has set

    def model_for(self, requested: str | None) -> str | None:
        """The model to ask LightRAG for: None (its default), a name, or "auto". A named model
        needs the feature model_choice, "auto" the feature router; with no model named, the
        router answers while its feature is on."""
        if requested is None:
            return AUTO if self.features.enabled("router") else None
        if requested == AUTO:
            self.features.require("router")
        else:
            self.features.require("model_choice")
        return requested

    def budget_of(self, caller: Caller) -> BudgetSettings | None:
        return self.ledger.budget_of(self._budgets.get(caller.name))

    async def hold(self, caller: Caller, model: str | None) -> Reservation:
        """Hold budget for one call (429 when the caller's budget is spent)."""
        reserved = model if model not in (None, AUTO) else self.settings.ollama.llm_model
        try:
            return await self.ledger.reserve(caller.name, self.budget_of(caller), reserved)
        except BudgetExceeded as exc:
            BUDGET_REFUSALS.labels(caller.name).inc()
            raise ApiError(
                ErrorCode.BUDGET_EXCEEDED,
                str(exc),
                retry_after=exc.retry_after(time.time()),
            ) from exc

    async def release(self, reservation: Reservation) -> None:
        await self.ledger.release(reservation)

    async def account(
        self,
        caller: Caller,
        reservation: Reservation,
        usage: Iterable[Usage],
        routing: dict[str, Any] | None,
    ) -> None:
        """Record what a call used: the answer's calls settle its hold (so the hold of the next
        call of that model grows with it), the others (keyword extraction) are recorded
        first, so spend plus holds never drops in between."""
        entries = list(usage)
        answers = [u for u in entries if u.role == "query"]
        for entry in entries:
            if entry.role != "query":
                await self.ledger.record(
                    caller.name,
                    entry.model,
                    entry.prompt_tokens,
                    entry.completion_tokens,
                    entry.compute_seconds,
                )
            observe(caller.name, entry, self.settings.accounting.prices)
        if answers:
            answer = answers[0]
            for more in answers[1:]:
                answer.add(more)
            await self.ledger.settle(
                replace(reservation, model=answer.model),
                answer.prompt_tokens,
                answer.completion_tokens,
                answer.compute_seconds,
            )
        else:
            await self.ledger.release(reservation)
        if routing is not None:
            fallback = "yes" if routing.get("fallbacks") else "no"
            tier = str(routing.get("tier") or "none")
            ROUTER_DECISIONS.labels(tier, str(routing.get("model")), fallback).inc()
        await self._remaining(caller)

    async def _remaining(self, caller: Caller) -> None:
        await self._remaining_of(caller.name, self.budget_of(caller))

    async def _remaining_of(self, client: str, budget: BudgetSettings | None) -> None:
        if budget is None:
            return
        status = await self.ledger.status(client, budget)
        ratios = []
        if status.remaining_tokens is not None and status.max_tokens:
            ratios.append(max(0, status.remaining_tokens) / status.max_tokens)
        if status.remaining_cost is not None and status.max_cost:
            ratios.append(float(max(Decimal(0), status.remaining_cost) / status.max_cost))
        if ratios:
            BUDGET_REMAINING.labels(client).set(min(ratios))
            self._gauged.add(client)

    async def refresh_gauges(self) -> None:
        """Set ``shield_budget_remaining_ratio`` of every client with a budget this replica
        knows of (configured, served, or with spend this period), so that a new period shows
        at once, not only at the client's next call."""
        known = {name for name, budget in self._budgets.items() if budget is not None}
        known |= self._gauged
        if self.ledger.budget_of(None) is not None:  # a default budget: every client spending
            for period in ("daily", "monthly"):
                known.update(await self.ledger.clients(period))
        for client in sorted(known):
            await self._remaining_of(client, self.ledger.budget_of(self._budgets.get(client)))

    async def run_gauges(self, stop: asyncio.Event, every: float = GAUGE_SECONDS) -> None:
        """:meth:`refresh_gauges` every ``every`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.refresh_gauges()
            except Exception as exc:  # noqa: BLE001 - a gauge must not stop the API
                log.debug("budget gauges not refreshed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
