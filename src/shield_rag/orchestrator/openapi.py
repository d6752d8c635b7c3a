"""The OpenAPI document, made as strict as the server for this deployment's settings.

FastAPI derives the document from the models; what depends on settings (the limits the
server enforces, whether an API key is required) and what the models cannot say is set
here, so that the document describes exactly what this orchestrator accepts and answers:

- the maxima the server checks against settings (``max_search_limit``,
  ``max_vectors_per_request``, ``max_text_chars``, ``crawl.max_pages_limit`` and
  ``crawl.max_depth_limit``), and that a crawl ``url`` starts with ``http(s)://``;
- FastAPI's default 422 (``HTTPValidationError``) is gone: every route documents its 422 as
  :class:`~shield_rag.api.errors.ErrorBody` where one can happen;
- a query, header or path parameter is never null (its schema is the non-null branch);
- with API clients configured (``orchestrator.clients`` or ``orchestrator.api_key``), the
  routes behind them declare bearer authentication; without, they list neither 401 nor 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shield_rag.api.fields import MAX_METADATA_CHARS, MAX_METADATA_KEYS, NOT_BLANK, VISIBLE
from shield_rag.api.search import FILTER_KEY_PATTERN, MAX_FILTERS
from shield_rag.settings import Settings

_DEFAULT_422 = "#/components/schemas/HTTPValidationError"
# Lenient on purpose: every URL the server may accept matches (it strips surrounding
# whitespace and reads the scheme case-insensitively, and needs a host after the scheme); the
# SSRF checks cannot be a pattern. The class holds what Python strips and ECMA's \s lacks
# (\x1c-\x1f, \x85).
URL_PATTERN = r"^[\s\x1c-\x1f\x85]*[Hh][Tt][Tt][Pp][Ss]?://[^\s\x1c-\x1f\x85/?#]"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
_INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
_NUMBER = {"anyOf": [{"type": "integer"}, {"type": "number"}]}
# Search filters as build_filter() takes them (the model's type alone admits more).
_FILTER_STRING = {"type": "string", "maxLength": MAX_METADATA_CHARS}
FILTERS = {
    "type": "object",
    "propertyNames": {"pattern": FILTER_KEY_PATTERN},
    "maxProperties": MAX_FILTERS,
    "additionalProperties": {
        "anyOf": [
            _FILTER_STRING,
            {"type": "boolean"},
            {"type": "integer", **_INT64},
            {"type": "number"},
            {"type": "array", "items": _FILTER_STRING, "minItems": 1, "maxItems": 100},
            {
                "type": "array",
                "items": {"type": "integer", **_INT64},
                "minItems": 1,
                "maxItems": 100,
            },
            {
                "type": "object",
                "properties": {k: _NUMBER for k in ("gt", "gte", "lt", "lte")},
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    },
}
# The document types the upload accepts by its declared content type (ingest.extract).
UPLOAD_TYPES = ", ".join(
    [
        "text/plain",
        "text/markdown",
        "text/html",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ]
)
_FORM_FIELDS = 10  # request.form(max_fields=10, max_files=1) in routes/ingest.py


def _metadata(prop: dict[str, Any]) -> None:
    """api.fields.check_metadata: keys of the pattern only, 64 at most, strings ≤ 4096,
    integers of 64 bits."""
    prop["additionalProperties"] = False
    prop["maxProperties"] = MAX_METADATA_KEYS
    for value in prop.get("patternProperties", {}).values():
        for branch in value.get("anyOf", []):
            if branch.get("type") == "string":
                branch["maxLength"] = MAX_METADATA_CHARS
            elif branch.get("type") == "integer":
                branch.update(_INT64)


def _upload(form: dict[str, Any], metadata: dict[str, Any]) -> None:
    """The multipart form: the file's accepted types, metadata as a JSON object part."""
    form["encoding"] = {
        "file": {"contentType": UPLOAD_TYPES},
        "metadata": {"contentType": "application/json"},
    }
    schema = form["schema"]
    schema["properties"]["file"]["minLength"] = 1
    # Empty: a field left empty, no title; else not blank, as in JSON.
    schema["properties"]["title"].update(maxLength=512, pattern=f"^$|{VISIBLE}")
    schema["properties"]["metadata"] = {
        **metadata,
        "description": "A JSON object, as for JSON requests",
    }
    schema["additionalProperties"] = {"type": "string", "description": "ignored"}
    schema["maxProperties"] = _FORM_FIELDS + 1


def _constrain(prop: dict[str, Any], **limits: Any) -> None:
    """Set ``limits`` on a property schema, or on each non-null branch of its anyOf."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    for branch in branches:
        branch.update(limits)


def _not_null(param: dict[str, Any]) -> None:
    """A query, header or path value is text, never null: an optional parameter's schema is
    its non-null branch (FastAPI writes ``anyOf: [{type: string}, {type: null}]``, which a
    client generating from the document sends as the text "null")."""
    schema = param.get("schema", {})
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        del schema["anyOf"]
        param["schema"] = {**branches[0], **schema}


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc.get("paths", {}).values() for m, op in item.items() if m in _METHODS]


def apply_settings(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    orch, crawl = settings.orchestrator, settings.crawl
    schemas = doc.get("components", {}).get("schemas", {})
    _constrain(schemas["SearchRequest"]["properties"]["limit"], maximum=orch.max_search_limit)
    _constrain(
        schemas["StoreRequest"]["properties"]["items"],
        minItems=1,
        maxItems=orch.max_vectors_per_request,
    )
    schemas["SearchRequest"]["properties"]["filters"]["anyOf"][0] = FILTERS
    for name in ("StoreRequest", "VectorItem"):
        _metadata(schemas[name]["properties"]["metadata"])
    ingest = doc["paths"]["/ingest-async"]["post"]["requestBody"]["content"]
    for variant in ingest["application/json"]["schema"]["oneOf"]:
        props = variant["properties"]
        _metadata(props["metadata"])
        if variant.get("title") == "TextIngest":
            _constrain(props["text"], maxLength=orch.max_text_chars, **NOT_BLANK)
            _upload(ingest["multipart/form-data"], props["metadata"])
        elif variant.get("title") == "UrlIngest":
            _constrain(props["url"], pattern=URL_PATTERN)
            _constrain(props["max_pages"], maximum=crawl.max_pages_limit)
            _constrain(props["max_depth"], maximum=crawl.max_depth_limit)
    authenticated = orch.api_key is not None or bool(orch.clients)
    for op in _operations(doc):
        for param in op.get("parameters", []):
            _not_null(param)
        responses = op.get("responses", {})
        default_422 = responses.get("422", {}).get("content", {}).get("application/json", {})
        if default_422.get("schema", {}).get("$ref") == _DEFAULT_422:
            del responses["422"]  # FastAPI's, on a route that cannot answer 422
        if "401" in responses:
            if not authenticated:
                del responses["401"]
                responses.pop("403", None)
            else:
                op["security"] = [{"bearer": []}]
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    if authenticated:
        doc.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer <key of a client in orchestrator.clients "
                "or orchestrator.api_key>",
            }
        }
    return doc


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the adjusted document at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = apply_settings(doc, settings)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented override
