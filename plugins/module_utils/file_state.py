# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The desired state of directories and files that shield.rag.files writes and shield.rag.drift
compares: their argument spec (documented once, by the doc fragment shield.rag.file_state), the
check of the paths, and the bytes a file's content stands for; and the read of a JSON object
file (a release's manifest, a converge receipt).

A module imports it as
``from ansible_collections.shield.rag.plugins.module_utils.file_state import ...``, the form
by which Ansible finds it and ships it with the module (AnsiballZ).
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.common.text.converters import to_bytes

_LIST_OF_DICTS = {"type": "list", "elements": "dict", "default": []}


def _attribute_options():
    return {"owner": {"type": "str"}, "group": {"type": "str"}, "mode": {"type": "raw"}}


def file_state_argument_spec(**file_options):
    """The options directories, files and secret_files (the content of a secret file is no_log).

    file_options: suboptions that files and secret_files have besides dest, content, owner,
    group and mode (shield.rag.files: validate).
    """
    directory = dict({"path": {"type": "path", "required": True}}, **_attribute_options())
    file = dict(
        {"dest": {"type": "path", "required": True}, "content": {"type": "str", "required": True}},
        **_attribute_options(),
        **file_options,
    )
    secret = dict(file, content={"type": "str", "required": True, "no_log": True})
    return {
        "directories": dict(_LIST_OF_DICTS, options=directory),
        "files": dict(_LIST_OF_DICTS, options=file),
        # The list names files; their content is the secret (no_log above).
        "secret_files": dict(_LIST_OF_DICTS, options=secret, no_log=False),
    }


def check_absolute_paths(module, **fail_result):
    """Fails the module, naming the path, unless every directory and file path is absolute.

    fail_result: what the module's result holds besides msg when it fails.
    """
    params = module.params
    for spec in params["directories"]:
        if not os.path.isabs(spec["path"]):
            module.fail_json(
                msg=f"directories: {spec['path']} is not an absolute path", **fail_result
            )
    for spec in params["secret_files"] + params["files"]:
        if not os.path.isabs(spec["dest"]):
            module.fail_json(msg=f"files: {spec['dest']} is not an absolute path", **fail_result)


def wanted_bytes(spec):
    """The bytes of a file spec's content, as they are written and compared."""
    return to_bytes(spec["content"], errors="surrogate_or_strict")


def read_json_object(path):
    """The JSON object in the file ``path``; None when there is none or it is not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
