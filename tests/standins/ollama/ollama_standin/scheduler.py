"""Loaded models as Ollama's scheduler keeps them: an expiry per model (keep_alive), and the
least recently used one unloaded when more than ``max_loaded`` would be loaded.

Nothing is really loaded: the stand-in only keeps the bookkeeping that ``/api/ps`` shows.
Expired entries are dropped whenever the table is read or changed, which is what a client
can observe of Ollama's timers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FOREVER_SECONDS = 290 * 365 * 24 * 3600.0  # Go's max time.Duration is ~292 years


@dataclass
class Loaded:
    expires: float | None  # epoch seconds; None: kept forever (keep_alive < 0)
    last_used: float


class Scheduler:
    """``max_loaded`` 0: no limit. ``default_keep_alive`` None: forever."""

    def __init__(self, default_keep_alive: float | None = 300.0, max_loaded: int = 0) -> None:
        self.default_keep_alive = default_keep_alive
        self.max_loaded = max_loaded
        self._loaded: dict[str, Loaded] = {}
        self.evicted: list[str] = []  # unloaded to make room, oldest first (for the log)

    def _prune(self) -> None:
        now = time.time()
        for model, entry in list(self._loaded.items()):
            if entry.expires is not None and entry.expires <= now:
                del self._loaded[model]

    def touch(self, model: str, keep_alive: float | str | None = "default") -> None:
        """``model`` answered a request: (re)load it with the request's keep_alive in seconds
        (None: forever, 0: unload now, "default": the server's default)."""
        self._prune()
        seconds = self.default_keep_alive if keep_alive == "default" else keep_alive
        assert not isinstance(seconds, str)
        if seconds is not None and seconds <= 0:
            self._loaded.pop(model, None)
            return
        now = time.time()
        expires = None if seconds is None else now + seconds
        self._loaded[model] = Loaded(expires=expires, last_used=time.monotonic())
        while self.max_loaded and len(self._loaded) > self.max_loaded:
            oldest = min(
                (m for m in self._loaded if m != model), key=lambda m: self._loaded[m].last_used
            )
            del self._loaded[oldest]
            self.evicted.append(oldest)

    def unload(self, model: str) -> None:
        self._loaded.pop(model, None)

    def loaded(self) -> dict[str, float]:
        """Loaded model -> expiry (epoch seconds; "forever" is ~290 years ahead, as Ollama's
        expires_at shows it)."""
        self._prune()
        now = time.time()
        return {
            m: (e.expires if e.expires is not None else now + FOREVER_SECONDS)
            for m, e in sorted(self._loaded.items())
        }
