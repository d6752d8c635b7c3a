"""Errors answered the way Qdrant answers them."""

from __future__ import annotations

import re

from pydantic import ValidationError


class QdrantError(Exception):
    """An error answered the way Qdrant does: ``{"status": {"error": ...}, "time": ...}``."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def translate_error(exc: BaseException) -> QdrantError:
    if isinstance(exc, QdrantError):
        return exc
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        return QdrantError(400, f"Format error in JSON body: {problems}")
    message = str(exc)
    if isinstance(exc, ValueError):
        if found := re.fullmatch(r"Collection (.+) not found", message):
            return QdrantError(404, f"Not found: Collection `{found[1]}` doesn't exist!")
        if found := re.fullmatch(r"(Collection|Alias) (.+) already exists", message):
            return QdrantError(409, f"Wrong input: {found[1]} `{found[2]}` already exists!")
        if message.startswith(("Wrong input", "Bad request", "Not found")):
            return QdrantError(404 if message.startswith("Not found") else 400, message)
        return QdrantError(400, f"Bad request: {message}")
    if isinstance(exc, NotImplementedError):
        return QdrantError(400, f"Bad request: not supported by the Qdrant stand-in: {message}")
    return QdrantError(500, f"Service internal error: {type(exc).__name__}: {message}")
