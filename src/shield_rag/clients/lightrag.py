"""HTTP client of the LightRAG service (the subset of lightrag-server's API we use)."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.settings import LightRAGSettings

QueryMode = Literal["naive", "local", "global", "hybrid", "mix"]


class LightRAGError(TransientJobError):
    """LightRAG failed or could not be reached."""


class LightRAGClient:
    def __init__(self, settings: LightRAGSettings) -> None:
        self.settings = settings
        headers = {}
        if settings.api_key is not None:
            headers["X-API-Key"] = settings.api_key.get_secret_value()
        self.http = httpx.AsyncClient(
            base_url=str(settings.url).rstrip("/"), headers=headers, timeout=settings.timeout
        )

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise LightRAGError(
                f"LightRAG at {self.settings.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        if resp.status_code >= 500:
            raise LightRAGError(f"LightRAG {path} failed ({resp.status_code}): {resp.text[:300]}")
        if resp.status_code >= 400:
            raise PermanentJobError(
                f"LightRAG rejected {path} ({resp.status_code}): {resp.text[:300]}"
            )
        data = resp.json()
        return data if isinstance(data, dict) else {"response": data}

    async def insert(self, text: str, doc_id: str, file_source: str) -> dict[str, Any]:
        return await self._post(
            "/documents/text", {"text": text, "id": doc_id, "file_source": file_source}
        )

    async def query(self, query: str, mode: QueryMode, top_k: int | None = None) -> str:
        body: dict[str, Any] = {"query": query, "mode": mode}
        if top_k is not None:
            body["top_k"] = top_k
        data = await self._post("/query", body)
        return str(data.get("response", ""))

    async def ready(self) -> None:
        resp = await self.http.get("/health")
        resp.raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()
