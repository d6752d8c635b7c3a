#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Ensure directories and files with their content and attributes in one step
version_added: "0.2.0"
description:
  - Creates the O(directories), then writes the O(secret_files) and the O(files), in that
    order, each with the owner, group and mode given. A file is replaced only when its content
    differs, atomically (a temporary file in the same directory, checked by O(files[].validate)
    when set, then renamed over the old one).
  - One module call does what one M(ansible.builtin.file) or M(ansible.builtin.template) task
    per path does, so a role converges a service's configuration in one remote round trip. The
    content is rendered on the controller, for instance with
    C(lookup('ansible.builtin.template', 'name.j2')), which renders exactly what
    M(ansible.builtin.template) renders.
  - The names of the paths that changed are returned, so that later tasks can restart only the
    services whose files changed.
  - The content of O(secret_files) is never logged, never shown in a diff and never returned.
author:
  - Shield RAG contributors (@shield-rag)
options:
  # The type and suboptions of directories, files and secret_files: the doc fragment.
  directories:
    description: Directories to create (with their parents) and give these attributes.
  files:
    description:
      - Files to write, after the O(secret_files). Shown in the diff.
      - The directory of each file must exist (list it in O(directories)).
  secret_files:
    description:
      - Files to write first, as O(files), for content that holds secrets. Their content is
        kept out of logs, diffs and results.
  record:
    description:
      - The pending converge receipt of a full run of C(playbooks/site.yml) (see
        M(shield.rag.converge_receipt)). The directories and files this call writes are added
        to it, each file's content as its SHA-256. Nothing is added in check mode, or when no
        receipt was begun at that path.
    type: path
extends_documentation_fragment:
  - shield.rag.file_state.validate
notes:
  - Supports check mode (reports what would change and writes nothing; a changed file's new
    content is still checked by O(files[].validate)) and diff mode (for O(directories) and
    O(files)).
"""

EXAMPLES = r"""
- name: Render the service's configuration
  shield.rag.files:
    directories:
      - {path: /etc/shield-rag/orchestrator, owner: root, group: root, mode: "0755"}
    secret_files:
      - dest: /etc/shield-rag/orchestrator/orchestrator.env
        content: "{{ lookup('ansible.builtin.template', 'service.env.j2') }}"
        owner: root
        group: root
        mode: "0600"
    files:
      - dest: /etc/shield-rag/orchestrator/orchestrator.yml
        content: "{{ lookup('ansible.builtin.template', 'settings.yml.j2') }}"
        owner: root
        group: shield-orchestrator
        mode: "0640"
        validate: /opt/shield-rag/current/venv/bin/shield-check-config --service orchestrator %s
  register: __config

- name: Restart when the settings changed
  ansible.builtin.systemd_service:
    name: shield-orchestrator.service
    state: restarted
  when: "'/etc/shield-rag/orchestrator/orchestrator.yml' in __config.changed_paths"
"""

RETURN = r"""
changed_paths:
  description:
    - The directories and files that were (in check mode, would be) created or changed, in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/shield-rag/orchestrator/orchestrator.yml]
created_paths:
  description: The subset of RV(changed_paths) that did not exist before.
  returned: always
  type: list
  elements: str
  sample: []
"""

import os
import shlex
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible_collections.shield.rag.plugins.module_utils.file_state import (
    check_absolute_paths,
    file_state_argument_spec,
    wanted_bytes,
)
from ansible_collections.shield.rag.plugins.module_utils.receipt import add_to_pending

# Diffs of files larger than this show a placeholder, as ansible.builtin.template's do.
_MAX_DIFF_BYTES = 104448


def _attributes(module, path, spec):
    return module.load_file_common_arguments(
        {
            "path": path,
            "owner": spec.get("owner"),
            "group": spec.get("group"),
            "mode": spec.get("mode"),
        }
    )


def _set_attributes(module, path, spec, changed, diffs):
    """Gives path the owner, group and mode of spec (their diff added to diffs); returns
    whether path changed, counting the change already made to it (changed)."""
    diff = {"before_header": path, "after_header": path, "before": {}, "after": {}}
    changed = (
        module.set_fs_attributes_if_different(_attributes(module, path, spec), changed, diff)
        or changed
    )
    if diff["before"] or diff["after"]:
        diffs.append(diff)
    return changed


def _ensure_directory(module, spec, diffs, created):
    path = spec["path"]
    changed = False
    if not os.path.isdir(path):
        created.append(path)
        if os.path.lexists(path):
            module.fail_json(msg=f"{path} exists and is not a directory", changed_paths=[])
        changed = True
        diffs.append(
            {
                "before_header": path,
                "after_header": path,
                "before": {"state": "absent"},
                "after": {"state": "directory"},
            }
        )
        if not module.check_mode:
            try:
                os.makedirs(path)
            except OSError as exc:
                module.fail_json(
                    msg=f"cannot create the directory {path}: {to_native(exc)}", changed_paths=[]
                )
        else:
            return True
    return _set_attributes(module, path, spec, changed, diffs)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return IsADirectoryError


def _validate(module, command, tmp_path, dest):
    if "%s" not in command:
        module.fail_json(
            msg=f"validate for {dest} must contain %s (the file to check): {command}",
            changed_paths=[],
        )
    # Every %s is the temporary file (no other % sequence is interpreted).
    check = command.replace("%s", shlex.quote(tmp_path))
    rc, out, err = module.run_command(check)
    if rc != 0:
        module.fail_json(
            msg=f"the new content of {dest} failed its check ({check}); the file was not replaced",
            rc=rc,
            stdout=out,
            stderr=err,
            changed_paths=[],
        )


def _validate_in_check_mode(module, spec, dest):
    """Check mode: the new content checked as a file in the module's temporary directory."""
    command = spec["validate"]
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        program = command
    if shutil.which(program) is None:
        module.warn(f"the new content of {dest} was not checked: {program} is not installed yet")
        return
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", dir=module.tmpdir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(wanted_bytes(spec))
        _validate(module, command, tmp_path, dest)
    finally:
        if os.path.lexists(tmp_path):
            os.unlink(tmp_path)


def _write(module, spec, tmp_prefix):
    dest = spec["dest"]
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        module.fail_json(
            msg=f"the directory of {dest} does not exist: create it first (directories)",
            changed_paths=[],
        )
    fd, tmp_path = tempfile.mkstemp(prefix=tmp_prefix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(wanted_bytes(spec))
            handle.flush()
            os.fsync(handle.fileno())
        # The temporary file is 0600 (mkstemp) until it has the attributes the file will have:
        # the checker sees them, and a secret is never readable by others, not even briefly.
        module.set_fs_attributes_if_different(_attributes(module, tmp_path, spec), False)
        if spec.get("validate"):
            _validate(module, spec["validate"], tmp_path, dest)
        # Same directory, same file system: the rename is atomic; readers see the old file or
        # the new one, never a part of it.
        os.replace(tmp_path, dest)
    finally:
        if os.path.lexists(tmp_path):
            os.unlink(tmp_path)


def _ensure_file(module, spec, secret, diffs, created):
    dest = spec["dest"]
    wanted = wanted_bytes(spec)
    current = _read(dest)
    if current is IsADirectoryError:
        module.fail_json(msg=f"{dest} is a directory, not a file", changed_paths=[])
    if current is None:
        created.append(dest)
    changed = current != wanted
    if changed and not secret:
        too_big = max(len(wanted), len(current or b"")) > _MAX_DIFF_BYTES
        diffs.append(
            {
                "before_header": dest if current is not None else "/dev/null",
                "after_header": dest,
                "before": "[content too large to show]" if too_big else to_text(current or b""),
                "after": "[content too large to show]" if too_big else spec["content"],
            }
        )
    if changed and not module.check_mode:
        _write(module, spec, f".{os.path.basename(dest)}.")
    if changed and module.check_mode:
        if spec.get("validate"):
            _validate_in_check_mode(module, spec, dest)
        return True
    return _set_attributes(module, dest, spec, changed, diffs)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            file_state_argument_spec(validate={"type": "str"}), record={"type": "path"}
        ),
        supports_check_mode=True,
    )
    check_absolute_paths(module, changed_paths=[])

    changed_paths = []
    created_paths = []
    diffs = []
    for spec in module.params["directories"]:
        if _ensure_directory(module, spec, diffs, created_paths):
            changed_paths.append(spec["path"])
    for secret, key in ((True, "secret_files"), (False, "files")):
        for spec in module.params[key]:
            if _ensure_file(module, spec, secret, diffs, created_paths):
                changed_paths.append(spec["dest"])

    if module.params["record"]:
        add_to_pending(module, module.params["record"], module.params)
    result = {
        "changed": bool(changed_paths),
        "changed_paths": changed_paths,
        "created_paths": created_paths,
    }
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
