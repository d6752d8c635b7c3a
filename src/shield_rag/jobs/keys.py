"""Redis key names, in one place."""

from __future__ import annotations

from dataclasses import dataclass

# The stage name of the graph stage's keys (its stream, retry set and leases).
GRAPH_STAGE = "graph"


@dataclass(frozen=True)
class Keys:
    """Key names under ``prefix``. ``stage`` names a queued stage other than the first (the
    vector phase): ``"graph"`` gives the graph stage its own stream, retry set and leases,
    while the job's record and events stay shared."""

    prefix: str
    stage: str = ""

    @property
    def _q(self) -> str:
        return f"{self.prefix}:{self.stage}" if self.stage else self.prefix

    @property
    def queue(self) -> str:
        return f"{self._q}:queue"

    @property
    def group(self) -> str:
        return "workers"

    @property
    def delayed(self) -> str:
        return f"{self._q}:delayed"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def job_events(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:events"

    def job_blob(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:blob"

    def lease(self, job_id: str) -> str:
        suffix = f"{self.stage}-lease" if self.stage else "lease"
        return f"{self.prefix}:job:{job_id}:{suffix}"

    def graph_docs(self, job_id: str) -> str:
        """The documents a job's graph stage still has to add to LightRAG (a hash of
        document id → JSON ``{text, source}``), written by its vector phase."""
        return f"{self.prefix}:job:{job_id}:graph-docs"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    @property
    def unfinished(self) -> str:
        """Every unfinished (queued or running) job: a sorted set of ``<job id> <client>``
        scored by creation time."""
        return f"{self.prefix}:unfinished"

    def client_unfinished(self, client: str) -> str:
        """One client's unfinished jobs: a sorted set of job ids scored by creation time."""
        return f"{self.prefix}:unfinished:{client}"

    @property
    def finished(self) -> str:
        """How many jobs have finished (a counter; admission derives the drain rate)."""
        return f"{self.prefix}:finished"

    def rate(self, client: str) -> str:
        """One client's token bucket (a hash: tokens, ts)."""
        return f"{self.prefix}:rate:{client}"
