"""The failure of a service operation, with the HTTP status the API answers it with."""

from __future__ import annotations


class OperationError(Exception):
    """An operation failed; ``status_code`` is the HTTP status the API answers with."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
