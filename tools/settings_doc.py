"""Render ``docs/configuration.md`` from the settings model (:mod:`shield_rag.settings`).

Run from the repository root::

    python -m tools.settings_doc > docs/configuration.md   # regenerate
    python -m tools.settings_doc --check                    # exit 1 if it is stale

The document is built from the field names, types, constraints, defaults and descriptions of
:class:`~shield_rag.settings.Settings` only: it never reads a configuration file or the
environment, so the output is the same wherever it runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AnyHttpUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from shield_rag.settings import CONFIG_ENV, Settings, secret_policy

DOC_PATH = Path("docs/configuration.md")
REGENERATE = "python -m tools.settings_doc > docs/configuration.md"
ENV_PREFIX = "SHIELD_"
DATA_PLANE = ("shield-orchestrator", "shield-worker", "shield-lightrag")
SERVICES = (*DATA_PLANE, "shield-mcp")

# Which service reads which section (every service validates the whole file).
SECTION_READERS: dict[str, tuple[str, ...]] = {
    "redis": ("shield-orchestrator", "shield-worker"),
    "qdrant": DATA_PLANE,
    "ollama": DATA_PLANE,
    "lightrag": DATA_PLANE,
    "lightrag_service": ("shield-lightrag",),
    "router": ("shield-lightrag",),
    "orchestrator": ("shield-orchestrator",),
    "admission": ("shield-orchestrator",),
    "crawl": ("shield-orchestrator", "shield-worker"),
    "chunking": ("shield-worker",),
    "worker": ("shield-orchestrator", "shield-worker"),
    "logging": SERVICES,
    "mcp": ("shield-mcp",),
    "accounting": ("shield-orchestrator", "shield-worker"),
    "features": ("shield-orchestrator", "shield-worker", "shield-mcp"),
}

_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    AnyHttpUrl: "HTTP(S) URL",
    SecretStr: "secret string",
}


def _sections() -> list[tuple[str, FieldInfo, type[BaseModel]]]:
    out = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"settings field {name!r} is not a section model")
        out.append((name, field, model))
    return out


def _submodel(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a key that is itself a group of keys (e.g. ``mcp.oauth``), else None."""
    model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _fields(prefix: str, model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """Every key of ``model`` as a dotted name, a group's keys right after the group's own."""
    out = []
    for key, field in model.model_fields.items():
        out.append((f"{prefix}.{key}", field))
        sub = _submodel(field)
        if sub is not None:
            out += _fields(f"{prefix}.{key}", sub)
    return out


def _dotted_keys() -> set[str]:
    return {
        dotted for name, _unused, model in _sections() for dotted, _field in _fields(name, model)
    }


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        name = " or ".join(_type_name(a) for a in args)
        return f"{name} or null" if len(args) < len(get_args(annotation)) else name
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        return f"list of {_type_name(item)}s"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping of the keys below"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    found: dict[str, Any] = {}
    for meta in field.metadata:
        for attr in ("ge", "gt", "le", "lt", "pattern"):
            value = getattr(meta, attr, None)
            if value is not None:
                found[attr] = value
    parts = []
    low = ("ge", ">=") if "ge" in found else ("gt", ">") if "gt" in found else None
    high = ("le", "<=") if "le" in found else ("lt", "<") if "lt" in found else None
    if low and high and low[0] == "ge" and high[0] == "le":
        parts.append(f"{found['ge']} to {found['le']}")
    else:
        parts += [f"{pair[1]} {found[pair[0]]}" for pair in (low, high) if pair]
    if "pattern" in found:
        parts.append(f"matching `{found['pattern']}`")
    return ", ".join(parts)


def _type_cell(field: FieldInfo) -> str:
    bounds = _bounds(field)
    name = _type_name(field.annotation)
    cell = f"{name} ({bounds})" if bounds else name
    return cell.replace("|", "\\|")  # a table cell; code spans need it too


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def _default_cell(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if _submodel(field) is not None:
        return "its keys' defaults"
    value = field.get_default(call_default_factory=True)
    return f"`{_yaml_value(value)}`"


_CODE = re.compile(r"SHIELD_[A-Z0-9_]+|\b[a-z_]+(?:\.[a-z_]+)?\b")


def _text(description: str | None, keys: set[str], local: Iterable[str] = ()) -> str:
    """Text for one Markdown line or table cell: settings keys and variables as code.

    ``keys`` are dotted keys; ``local`` are the keys of the section being described, shown as
    code when they appear bare and contain an underscore (so ``port`` stays a word).
    """
    bare = {k for k in local if "_" in k}
    out = []
    pos = 0
    text = " ".join((description or "").split())
    for match in _CODE.finditer(text):
        token = match.group()
        if token.startswith(ENV_PREFIX) or token in keys or token in bare:
            out.append(_escape(text[pos : match.start()]))
            out.append(f"`{token}`")
            pos = match.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _docstring_body(model: type[BaseModel]) -> str:
    """The class docstring after its summary line (the field description says as much)."""
    own = model.__dict__.get("__doc__")
    if not own:
        return ""
    _summary, _unused, body = inspect.cleandoc(own).partition("\n")
    return body.strip().replace("``", "`")


def _env_name(section: str, key: str = "<KEY>") -> str:
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def _lines(*chunks: str | Iterable[str]) -> list[str]:
    out: list[str] = []
    for chunk in chunks:
        out.extend([chunk] if isinstance(chunk, str) else chunk)
    return out


def _intro(keys: set[str]) -> list[str]:
    required = [
        f"`{name}.{key}`"
        for name, _unused, model in _sections()
        for key, field in model.model_fields.items()
        if field.is_required()
    ]
    policy = secret_policy()
    weak = ", ".join(f"`{w}`" for w in policy["weak_words"])
    marks = ", ".join(f"`{m}`" for m in policy["placeholder_marks"])
    secrets = [
        f"`{name}.{key}`"
        for name, _unused, model in _sections()
        for key, field in model.model_fields.items()
        if "secret" in _type_name(field.annotation)
    ]
    return [
        "# Configuration",
        "",
        "<!-- Generated from src/shield_rag/settings/; do not edit by hand. Regenerate with:",
        f"     {REGENERATE} -->",
        "",
        "Every Shield service (" + ", ".join(f"`{s}`" for s in SERVICES) + ") reads the same",
        "YAML file, checked against one settings model, so one file can serve a whole host.",
        "A complete example for a single host is",
        "[docs/examples/shield.yml](examples/shield.yml).",
        "",
        "## Where the settings come from",
        "",
        "1. **The YAML file** named by `--config PATH` on the command line or, without it, by",
        f"   the `{CONFIG_ENV}` environment variable. Its top level is a mapping of the",
        "   sections below. The file is read as it is: `${...}` placeholders are *not*",
        "   expanded. With neither `--config` nor `SHIELD_CONFIG`, settings come from the",
        "   environment alone.",
        "2. **Environment variables** override the file, key by key: "
        f"`{ENV_PREFIX}<SECTION>__<KEY>`",
        "   (upper case, a double underscore between section and key). For example:",
        "",
        "   ```sh",
        "   SHIELD_REDIS__URL=redis://127.0.0.1:6380/0 \\",
        "   SHIELD_WORKER__CONCURRENCY=4 \\",
        "     shield-worker --config /etc/shield/shield.yml",
        "   ```",
        "",
        "   Numbers and booleans (`true`/`false`) are given as text; lists as JSON, e.g.",
        "   `SHIELD_CRAWL__ALLOWED_NETWORKS='[\"10.0.0.0/8\"]'`.",
        "",
        "### Secrets",
        "",
        "The secrets are the API keys (" + ", ".join(secrets) + ") and the",
        "password a `redis.url` may carry. Keep them out of the YAML file: pass them as",
        "environment variables (e.g. `SHIELD_ORCHESTRATOR__API_KEY`) from a vault, for",
        "instance through an environment file readable only by the service user. The API",
        "keys are masked (`**********`) when settings are printed; `redis.url` is not. An",
        f"API key must have at least {policy['min_length']} characters, at least",
        f"{policy['min_distinct']} different ones and at least {policy['min_left']} left once",
        f"well-known words ({weak}) are cut out, and must not carry a placeholder mark",
        f"({marks}). The rule is `src/shield_rag/settings/secret_policy.yml`, which the",
        "roles' preflight applies too.",
        "",
        "### Errors",
        "",
        "A service checks the whole configuration when it starts, before it serves anything.",
        "On a problem it prints one line per offending key, named with its dotted path, and",
        "exits with status 2:",
        "",
        "```text",
        "shield-worker: invalid Shield configuration (/etc/shield/shield.yml):",
        "  redis.url: Value error, must start with redis://, rediss:// or unix://",
        "  qdrant.url: Field required",
        "  worker.heartbeat_secs: unknown key (check the spelling; see docs/configuration.md)",
        "```",
        "",
        f"- **Unknown keys** (typos) are errors, in the file and in `{ENV_PREFIX}<SECTION>__<KEY>`",
        "  variables alike.",
        "- **Required keys**: " + ", ".join(required) + "; a missing one is named.",
        "- **Bad values** (wrong type, out of range, bad URL scheme, weak API key) are named",
        "  by key; checks across keys of one section name the section and both keys, e.g.",
        "  `worker: ... heartbeat_seconds must be at most half of claim_idle_seconds`.",
        "- **The file**: a missing or unreadable file, invalid YAML or a top level that is not",
        "  a mapping is reported as such (an empty file counts as an empty mapping).",
        "",
        "## Sections and the services that read them",
        "",
        "Each service validates every section (so one file must suit all of them) but uses",
        "only the sections marked for it.",
        "",
        "| Section | Required | " + " | ".join(f"`{s}`" for s in SERVICES) + " |",
        "| --- | --- | " + " | ".join(":---:" for _unused in SERVICES) + " |",
        *(
            f"| [`{name}`](#{name}) | {'yes' if field.is_required() else 'no'} | "
            + " | ".join("✓" if s in SECTION_READERS.get(name, ()) else "" for s in SERVICES)
            + " |"
            for name, field, _unused in _sections()
        ),
        "",
    ]


def _section(name: str, field: FieldInfo, model: type[BaseModel], keys: set[str]) -> list[str]:
    status = (
        "Required section."
        if field.is_required()
        else "Optional section: every key has a default, so it may be left out."
    )
    doc = _docstring_body(model)
    return _lines(
        f"## {name}",
        "",
        _text(field.description, keys, model.model_fields),
        "",
        [doc, ""] if doc else [],
        f"{status} Environment override: `{_env_name(name)}`.",
        "",
        "| Key | Type | Default | Description |",
        "| --- | --- | --- | --- |",
        [
            f"| `{dotted}` | {_type_cell(f)} | {_default_cell(f)} | "
            f"{_text(f.description, keys, model.model_fields)} |"
            for dotted, f in _fields(name, model)
        ],
        "",
    )


def render_markdown() -> str:
    """The text of ``docs/configuration.md``."""
    keys = _dotted_keys()
    lines = _intro(keys)
    for name, field, model in _sections():
        lines += _section(name, field, model, keys)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.settings_doc",
        description="Write docs/configuration.md (to standard output) from the settings model.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the file instead of printing; exit 1 if it is stale",
    )
    parser.add_argument(
        "--path",
        type=Path,
        default=DOC_PATH,
        help=f"the file --check compares (default: {DOC_PATH}, from the repository root)",
    )
    args = parser.parse_args(argv)
    text = render_markdown()
    if not args.check:
        sys.stdout.write(text)
        return 0
    try:
        current = args.path.read_text(encoding="utf-8")
    except OSError as exc:
        print(
            f"{args.path}: cannot read it ({exc.strerror}); create it with: {REGENERATE}",
            file=sys.stderr,
        )
        return 1
    if current != text:
        print(
            f"{args.path} is stale: it does not match src/shield_rag/settings/; "
            f"regenerate it with: {REGENERATE}",
            file=sys.stderr,
        )
        return 1
    print(f"{args.path} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
