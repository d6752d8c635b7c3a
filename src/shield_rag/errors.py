"""Error types shared by the Shield services.

Job processing distinguishes errors that retrying cannot fix (bad input, a page the SSRF
guard rejects, an unsupported document) from errors that may pass (timeouts, connection
errors, 5xx answers). Workers retry the second kind with backoff and fail the first at once.
"""

from __future__ import annotations


class ShieldError(Exception):
    """Base class of Shield errors."""


class PermanentJobError(ShieldError):
    """The job cannot succeed as submitted; retrying will not help."""


class TransientJobError(ShieldError):
    """A dependency failed in a way that may pass; the job is retried with backoff."""


class JobCancelled(ShieldError):
    """The job was cancelled by a client while it ran."""
