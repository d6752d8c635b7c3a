"""Start-up shared by the entry points: a service that cannot start says why and exits 2.

Every command (``shield-orchestrator``, ``shield-worker``, ``shield-mcp``,
``shield-lightrag``, ``shield-check-config``) wraps its ``main`` in :func:`entry_point`.
Inside it, :func:`load` reads the settings (and sets up logging), :func:`config_errors`
turns a :class:`~shield_rag.settings.ConfigError` into a refusal, and :class:`Refused` is
raised for any other reason not to start. The refusal is one line on stderr, prefixed with
the command's name, and exit status 2; systemd and the Ansible roles read it as "fix the
configuration", not "retry".
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar, overload

from shield_rag.logs import setup_logging
from shield_rag.settings import ConfigError, Settings, load_settings

EXIT_REFUSED = 2
S = TypeVar("S", bound=Settings)
P = ParamSpec("P")


class Refused(Exception):
    """The service will not start; the message says why."""


@contextmanager
def config_errors() -> Iterator[None]:
    """A :class:`ConfigError` raised inside is a refusal to start."""
    try:
        yield
    except ConfigError as exc:
        raise Refused(str(exc)) from exc


@overload
def load(path: str | None, *, logs: bool = True) -> Settings: ...


@overload
def load(path: str | None, model: type[S], *, logs: bool = True) -> S: ...


def load(path: str | None, model: type[Settings] = Settings, *, logs: bool = True) -> Settings:
    """The settings of ``path`` (or ``$SHIELD_CONFIG``); with ``logs``, logging set up as
    they say. A configuration error is a refusal to start."""
    with config_errors():
        settings = load_settings(path, model)
    if logs:
        setup_logging(settings.logging)
    return settings


def entry_point(prog: str) -> Callable[[Callable[P, int]], Callable[P, int]]:
    """Wrap a command's ``main``: a :class:`Refused` prints ``<prog>: <reason>`` on stderr
    and makes ``main`` return :data:`EXIT_REFUSED`."""

    def wrap(main: Callable[P, int]) -> Callable[P, int]:
        @functools.wraps(main)
        def run(*args: P.args, **kwargs: P.kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except Refused as exc:
                print(f"{prog}: {exc}", file=sys.stderr)
                return EXIT_REFUSED

        return run

    return wrap
