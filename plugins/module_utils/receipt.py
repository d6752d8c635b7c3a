# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The converge receipt of a host: what a full run of playbooks/site.yml left on it.

shield.rag.converge_receipt begins a pending receipt when a full run starts, shield.rag.drift
and shield.rag.files add to it the state they compare or write (``record``), and the run's
last play commits it. A file's content is recorded as its SHA-256, never as itself; the
health URLs keep the headers they are asked with (an API key, as the services' configuration
files on the host do), so the receipt is readable by root only. A later run whose inputs have
the same digest replays the recorded comparisons (shield.rag.drift's) instead of running the
roles.

A module imports it as
``from ansible_collections.shield.rag.plugins.module_utils.receipt import ...``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

from ansible_collections.shield.rag.plugins.module_utils.file_state import (
    read_json_object,
    wanted_bytes,
)

RECEIPT_DIR = "/var/lib/shield-rag/converge"
PENDING = "pending.json"
RECEIPT = "receipt.json"
RECORD_KEYS = ("accounts", "directories", "files", "links", "units", "answers")


def empty_record():
    return {key: [] for key in RECORD_KEYS}


def write(path, data):
    """Write ``data`` to ``path`` as JSON, root only, replacing it at once."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".receipt-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _attributes(spec):
    return {key: spec.get(key) for key in ("owner", "group", "mode") if spec.get(key) is not None}


def record_of(params):
    """What a shield.rag.drift or shield.rag.files call states, as a receipt records it."""
    files = [
        dict(
            {"dest": spec["dest"], "sha256": hashlib.sha256(wanted_bytes(spec)).hexdigest()},
            **_attributes(spec),
        )
        for spec in params.get("secret_files", []) + params.get("files", [])
    ]
    answers = []
    if params.get("answers"):
        answers.append(
            {
                "validate_certs": params.get("validate_certs", True),
                "ca_path": params.get("ca_path"),
                "checks": params["answers"],
            }
        )
    return {
        "accounts": params.get("accounts", []),
        "directories": [
            dict({"path": spec["path"]}, **_attributes(spec))
            for spec in params.get("directories", [])
        ],
        "files": files,
        "links": params.get("links", []),
        "units": [{"name": unit} for unit in params.get("units", [])],
        "answers": answers,
    }


def _key(kind, item):
    if kind == "accounts":
        return item["user"]
    if kind == "directories":
        return item["path"]
    if kind in ("files", "links"):
        return item["dest"]
    if kind == "units":
        return item["name"]
    return json.dumps([item.get("validate_certs"), item.get("ca_path"), item["checks"]])


def merge(into, record):
    """Add ``record`` to the record ``into``: a later statement of a path, account, unit or
    set of answers replaces an earlier one."""
    for kind in RECORD_KEYS:
        known = {_key(kind, item): index for index, item in enumerate(into.setdefault(kind, []))}
        for item in record.get(kind, []):
            key = _key(kind, item)
            if key in known:
                into[kind][known[key]] = item
            else:
                known[key] = len(into[kind])
                into[kind].append(item)
    return into


def add_to_pending(module, pending_path, params):
    """Add the call's state to the pending receipt at ``pending_path`` (nothing in check mode,
    or when no receipt was begun there). Returns whether it was added."""
    if module.check_mode:
        return False
    pending = read_json_object(pending_path)
    if pending is None or "digest" not in pending:
        return False
    merge(pending.setdefault("record", empty_record()), record_of(params))
    write(pending_path, pending)
    return True
