"""``shield-check-config``: check a service's settings file before it is installed.

The Ansible roles use it as the ``validate:`` command of every settings file they render,
so a bad value stops the play with the service's own message instead of a service that
fails to start::

    shield-check-config --service orchestrator --env-file /etc/shield-rag/orchestrator.env FILE

``--env-file`` reads the ``KEY="value"`` lines of a systemd ``EnvironmentFile`` (where the
roles put secrets) as if they were in the environment, which is how the service sees them.
Exit status: 0 valid, 2 invalid (the reason on stderr).

``shield-check-config --release-info`` prints what a release of the package declares, as one
JSON object: the package version, the settings schema it reads (``SETTINGS_SCHEMA``) and the
Python it runs on. ``shield.rag.shield_runtime`` records it in each release's manifest and
compares it before a rollback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from shield_rag import startup
from shield_rag.settings import (
    SETTINGS_SCHEMA,
    ConfigError,
    McpServiceSettings,
    Settings,
    load_settings,
)

SERVICES: dict[str, type[Settings]] = {
    "orchestrator": Settings,
    "worker": Settings,
    "lightrag": Settings,
    "mcp": McpServiceSettings,
}


def parse_env_file(text: str) -> dict[str, str]:
    """Parse systemd ``EnvironmentFile`` lines: ``KEY=value`` or ``KEY="value"``.

    Inside double quotes ``\\\\`` and ``\\"`` are unescaped, as systemd does; comments and
    blank lines are skipped.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError(f"environment file line {number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            out, chars = [], iter(value[1:-1])
            for ch in chars:
                out.append(next(chars, "\\") if ch == "\\" else ch)
            value = "".join(out)
        values[key] = value
    return values


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def check(path: str, service: str, env_file: str | None = None) -> Settings:
    extra: dict[str, str] = {}
    if env_file:
        try:
            text = Path(env_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read environment file {env_file}: {exc.strerror}") from exc
        extra = parse_env_file(text)
    with _environment(extra):
        settings = load_settings(path, SERVICES[service])
        if service == "mcp":
            problem = settings.mcp.auth_problem(settings.mcp.transport)
            if problem:
                raise ConfigError(f"mcp.{problem}")
        return settings


def release_info() -> dict[str, str | int]:
    """What this installed release declares: package version, settings schema, Python."""
    return {
        "package": "shield-rag",
        "version": metadata.version("shield-rag"),
        "settings_schema": SETTINGS_SCHEMA,
        "python": platform.python_version(),
    }


@startup.entry_point("shield-check-config")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shield-check-config",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", help="the YAML settings file to check")
    parser.add_argument("--service", choices=sorted(SERVICES))
    parser.add_argument("--env-file", help="systemd EnvironmentFile holding SHIELD_* overrides")
    parser.add_argument(
        "--release-info",
        action="store_true",
        help="print the package version and the settings schema it reads, as JSON, and exit",
    )
    args = parser.parse_args(argv)
    if args.release_info:
        if args.path or args.service or args.env_file:
            parser.error("--release-info takes no other argument")
        print(json.dumps(release_info(), sort_keys=True))
        return 0
    if not args.path or not args.service:
        parser.error("a settings file and --service are required (or --release-info)")
    with startup.config_errors():
        check(args.path, args.service, args.env_file)
    print(f"{args.path}: valid settings for shield-{args.service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
