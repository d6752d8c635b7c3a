"""Redis key names, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def queue(self) -> str:
        return f"{self.prefix}:queue"

    @property
    def group(self) -> str:
        return "workers"

    @property
    def delayed(self) -> str:
        return f"{self.prefix}:delayed"

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
        return f"{self.prefix}:job:{job_id}:lease"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"
