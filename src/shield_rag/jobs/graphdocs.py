"""The documents a job's graph stage has still to add to LightRAG, kept in Redis.

The vector phase stores each document's text and source here before it hands the job to the
graph stage; the graph stage removes a document once LightRAG has indexed it, so a retried
or taken-over graph stage inserts only what is left (and LightRAG, which keys documents by
id, answers a repeated insert of a finished document with "already indexed").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from shield_rag.jobs.keys import Keys
from shield_rag.jobs.records import as_text


@dataclass(frozen=True)
class GraphDoc:
    doc_id: str
    text: str
    source: str


class GraphDocs:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.ttl = ttl_seconds

    async def stash(self, job_id: str, doc_id: str, text: str, source: str) -> None:
        key = self.keys.graph_docs(job_id)
        body = json.dumps({"text": text, "source": source}, separators=(",", ":"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, doc_id, body)
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def pending(self, job_id: str) -> list[GraphDoc]:
        """The job's documents not indexed yet, in document id order."""
        raw = await self.redis.hgetall(self.keys.graph_docs(job_id))
        out: list[GraphDoc] = []
        for key, value in sorted((as_text(k), as_text(v)) for k, v in raw.items()):
            body = json.loads(value)
            out.append(GraphDoc(key, str(body["text"]), str(body["source"])))
        return out

    async def done(self, job_id: str, doc_id: str) -> None:
        await self.redis.hdel(self.keys.graph_docs(job_id), doc_id)

    async def drop(self, job_id: str) -> None:
        await self.redis.delete(self.keys.graph_docs(job_id))
