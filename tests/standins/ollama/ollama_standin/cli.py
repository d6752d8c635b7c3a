"""``ollama list | ps | pull MODEL | rm MODEL...``: the client commands of Ollama's executable,
as thin HTTP clients of the server on ``OLLAMA_HOST`` (tests only; plain output, no progress
bars). Errors print ``Error: <message>`` and exit 1, as Ollama's do."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from .envconfig import parse_host


def _base() -> str:
    host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class CliError(Exception):
    pass


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(_base() + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise CliError(message) from exc
    except OSError as exc:
        raise CliError("could not connect to ollama app, is it running?") from exc


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n} {unit}"
        n //= 1000
    return f"{n} TB"


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("    ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run(args: list[str]) -> int:
    command, rest = args[0], args[1:]
    try:
        if command in ("list", "ls"):
            models = json.loads(_call("GET", "/api/tags"))["models"]
            rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
            for m in models:
                modified = datetime.fromisoformat(m["modified_at"]).strftime("%Y-%m-%d %H:%M")
                rows.append([m["name"], m["digest"][:12], _size(int(m["size"])), modified])
            _table(rows)
        elif command == "ps":
            models = json.loads(_call("GET", "/api/ps"))["models"]
            rows = [["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]]
            rows += [
                [m["name"], m["digest"][:12], _size(int(m["size"])), "100% CPU", m["expires_at"]]
                for m in models
            ]
            _table(rows)
        elif command == "pull" and len(rest) == 1:
            lines = _call("POST", "/api/pull", {"model": rest[0], "stream": True}).splitlines()
            for line in lines:
                step = json.loads(line)
                if "error" in step:
                    raise CliError(step["error"])
                print(step.get("status", ""), file=sys.stderr)
        elif command == "rm" and rest:
            for model in rest:
                _call("DELETE", "/api/delete", {"model": model})
                print(f"deleted '{model}'")
        else:
            print(f"Error: unknown command or arguments: ollama {' '.join(args)}", file=sys.stderr)
            return 1
    except CliError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0
