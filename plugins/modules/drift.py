#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drift
short_description: Read whether accounts, files, units and endpoints are as a converge leaves them
version_added: "0.3.0"
description:
  - Compares the host with a desired state, changing nothing, and lists every difference. The
    desired state is what the tasks that converge the service would make it, given the same
    way they are given it (the content of each file rendered on the controller, attributes,
    accounts, units), so a role can read the whole service in one remote round trip and run
    its changing tasks only when something differs.
  - Differences looked for, each named in RV(drift) by path, account or unit (never by
    content) - a system user or group missing or with another primary group, home, comment
    or shell; a directory missing or with another owner, group or mode; a file missing, with
    other content, owner, group or mode; a symbolic link missing, pointing elsewhere or
    dangling; a unit not enabled or not active; an HTTP endpoint that does not answer as
    expected.
  - The module never fails on a difference; it fails only on arguments it cannot compare.
author:
  - Shield RAG contributors (@shield-rag)
options:
  accounts:
    description: System users that must exist, each with the primary group of O(accounts[].group).
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: User name.
        type: str
        required: true
      group:
        description: The user's primary group, which must exist too; the user's name when not set.
        type: str
      home:
        description: Home directory, when it must be this one.
        type: str
      comment:
        description: The GECOS field, when it must be this one.
        type: str
      shell:
        description: Login shell, when it must be this one.
        type: str
  # The type and suboptions of directories, files and secret_files: the doc fragment.
  directories:
    description: Directories that must exist with these attributes (as in M(shield.rag.files)).
  files:
    description: Files that must have this content and these attributes (as in M(shield.rag.files)).
  units:
    description: systemd units that must be enabled and active.
    type: list
    elements: str
    default: []
  links:
    description: Symbolic links that must exist, point to O(links[].src), and lead to something.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path of the link.
        type: path
        required: true
      src:
        description: The path the link must hold, as M(ansible.builtin.file) writes a link.
        type: path
        required: true
  answers:
    description:
      - HTTP endpoints that must answer as expected, each asked once from the managed host (all
        together), as M(shield.rag.wait_http) asks them; one that does not is a difference. A
        service that is enabled and active but does not answer is not converged.
      - O(validate_certs) and O(ca_path) apply to their https URLs.
extends_documentation_fragment:
  - shield.rag.file_state
  - shield.rag.http_checks.drift
notes:
  - Reads only; runs the same in check mode.
"""

EXAMPLES = r"""
- name: Compare the orchestrator with what this run would make it
  shield.rag.drift:
    accounts:
      - {user: shield-orchestrator, home: /nonexistent, shell: /usr/sbin/nologin}
    files:
      - dest: /etc/shield-rag/orchestrator/orchestrator.yml
        content: "{{ lookup('ansible.builtin.template', 'settings.yml.j2') }}"
        owner: root
        group: shield-orchestrator
        mode: "0640"
    units: [shield-orchestrator.service]
    answers:
      - {name: orchestrator, url: "http://127.0.0.1:8080/readyz"}
  register: __drift

- name: Converge the orchestrator
  ansible.builtin.include_tasks: converge.yml
  when: not __drift.in_sync
"""

RETURN = r"""
answers:
  description: What each endpoint of O(answers) answered, in their order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's name (its URL when it has none).
      type: str
    url:
      description: The URL asked.
      type: str
    answered:
      description: Whether it answered as expected.
      type: bool
    status:
      description: The HTTP status of its answer; -1 when there was none.
      type: int
    error:
      description: Why the answer was not the expected one (empty when it was).
      type: str
in_sync:
  description: Whether nothing differs.
  returned: always
  type: bool
drift:
  description: What differs, one sentence each, in the order of the arguments.
  returned: always
  type: list
  elements: str
  sample:
    - "/etc/shield-rag/orchestrator/orchestrator.yml: content differs"
    - "orchestrator (http://127.0.0.1:8080/readyz): does not answer: HTTP 503, expected 200"
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.file_state import (
    check_absolute_paths,
    file_state_argument_spec,
    wanted_bytes,
)
from ansible_collections.shield.rag.plugins.module_utils.http_probe import (
    CHECK_OPTIONS,
    ask_all,
    bad_urls,
    context,
    pool_for,
)


def _id(name, lookup):
    """The uid or gid that name (of an owner or group) stands for; None when name is not set,
    -1 when no user or group has that name (never equal to a file's)."""
    if name is None:
        return None
    if str(name).isdigit():
        return int(name)
    try:
        return lookup(name)
    except KeyError:
        return -1


def _mode(module, value, where):
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    if not text or any(c not in "01234567" for c in text):
        module.fail_json(msg=f"{where}: mode {value!r} is not an octal string such as '0640'")
    return int(text, 8)


def _attributes(module, path, spec, info, drift):
    owner = _id(spec.get("owner"), lambda name: pwd.getpwnam(name).pw_uid)
    group = _id(spec.get("group"), lambda name: grp.getgrnam(name).gr_gid)
    mode = _mode(module, spec.get("mode"), path)
    if owner is not None and info.st_uid != owner:
        drift.append(f"{path}: owner is uid {info.st_uid}, not {spec['owner']}")
    if group is not None and info.st_gid != group:
        drift.append(f"{path}: group is gid {info.st_gid}, not {spec['group']}")
    if mode is not None and stat.S_IMODE(info.st_mode) != mode:
        drift.append(f"{path}: mode is {stat.S_IMODE(info.st_mode):04o}, not {mode:04o}")


def _accounts(specs, drift):
    for spec in specs:
        user = spec["user"]
        group = spec.get("group") or user
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            drift.append(f"user {user}: missing")
            continue
        try:
            if grp.getgrnam(group).gr_gid != entry.pw_gid:
                drift.append(f"user {user}: primary group is gid {entry.pw_gid}, not {group}")
        except KeyError:
            drift.append(f"group {group}: missing")
        for key, field in (("home", "pw_dir"), ("comment", "pw_gecos"), ("shell", "pw_shell")):
            wanted = spec.get(key)
            if wanted is not None and getattr(entry, field) != wanted:
                drift.append(f"user {user}: {key} is {getattr(entry, field)!r}, not {wanted!r}")


def _directories(module, specs, drift):
    for spec in specs:
        path = spec["path"]
        try:
            info = os.stat(path)
        except FileNotFoundError:
            drift.append(f"{path}: missing")
            continue
        if not stat.S_ISDIR(info.st_mode):
            drift.append(f"{path}: not a directory")
            continue
        _attributes(module, path, spec, info, drift)


def _files(module, specs, drift):
    for spec in specs:
        dest = spec["dest"]
        try:
            with open(dest, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    drift.append(f"{dest}: not a regular file")
                    continue
                current = handle.read()
        except FileNotFoundError:
            drift.append(f"{dest}: missing")
            continue
        except IsADirectoryError:
            drift.append(f"{dest}: not a regular file")
            continue
        if current != wanted_bytes(spec):
            drift.append(f"{dest}: content differs")
        _attributes(module, dest, spec, info, drift)


def _links(specs, drift):
    for spec in specs:
        dest, src = spec["dest"], spec["src"]
        if not os.path.islink(dest):
            drift.append(f"{dest}: {'not a symbolic link' if os.path.lexists(dest) else 'missing'}")
        elif os.readlink(dest) != src:
            drift.append(f"{dest}: links to {os.readlink(dest)}, not {src}")
        elif not os.path.exists(dest):
            drift.append(f"{dest}: links to {src}, which is missing")


def _units(module, units, drift):
    if not units:
        return
    systemctl = module.get_bin_path("systemctl", required=True)
    # One block of properties per unit, in the order asked, blank-line separated (an alias is
    # answered under its unit's Id); a unit systemd does not know is inactive, with no
    # UnitFileState.
    rc, out, err = module.run_command(
        [systemctl, "show", "--property=Id,UnitFileState,ActiveState", "--", *units]
    )
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip() or out.strip()}", rc=rc)
    blocks = out.strip().split("\n\n")
    for unit, block in zip(units, blocks + [""] * (len(units) - len(blocks)), strict=False):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        enabled = props.get("UnitFileState") or "unknown"
        active = props.get("ActiveState") or "unknown"
        if enabled != "enabled" or active != "active":
            drift.append(f"{unit}: {enabled} and {active}, not enabled and active")


def _answers(module, checks, drift):
    """Ask every check once; the answers as returned (RV answers)."""
    if not checks:
        return []
    ca_path = module.params["ca_path"]
    if ca_path and not os.path.exists(ca_path):
        # A new host: the CA bundle is among the files this read finds missing (they are all
        # written, then the service restarted and its answers awaited); its https answers
        # cannot be checked against it yet.
        drift.append(f"{ca_path}: missing, the https answers are not checked against it")
        checks = [c for c in checks if not c["url"].startswith("https://")]
        ca_path = None
    tls = context(module.params["validate_certs"], ca_path)
    with pool_for(checks) as pool:
        answers = ask_all(pool, checks, tls, 5.0)
    results = []
    for check, (answered, status, error) in zip(checks, answers, strict=True):
        name = check["name"] or check["url"]
        results.append(
            {
                "name": name,
                "url": check["url"],
                "answered": answered,
                "status": status,
                "error": error,
            }
        )
        if not answered:
            drift.append(f"{name} ({check['url']}): does not answer: {error}")
    return results


def main():
    module = AnsibleModule(
        argument_spec={
            "accounts": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "user": {"type": "str", "required": True},
                    "group": {"type": "str"},
                    "home": {"type": "str"},
                    "comment": {"type": "str"},
                    "shell": {"type": "str"},
                },
            },
            **file_state_argument_spec(validate={"type": "str"}),
            "links": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "dest": {"type": "path", "required": True},
                    "src": {"type": "path", "required": True},
                },
            },
            "units": {"type": "list", "elements": "str", "default": []},
            "answers": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": CHECK_OPTIONS,
            },
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    check_absolute_paths(module)
    params = module.params
    for url in bad_urls(params["answers"]):
        module.fail_json(msg=f"answers: {url} is not an http or https URL")

    drift = []
    _accounts(params["accounts"], drift)
    _directories(module, params["directories"], drift)
    _files(module, params["secret_files"] + params["files"], drift)
    _links(params["links"], drift)
    _units(module, params["units"], drift)
    answers = _answers(module, params["answers"], drift)
    module.exit_json(changed=False, in_sync=not drift, drift=drift, answers=answers)


if __name__ == "__main__":
    main()
