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
  record:
    description:
      - The pending converge receipt of a full run of C(playbooks/site.yml) (see
        M(shield.rag.converge_receipt)). The state this call compares is added to it, each
        file's content as its SHA-256. Nothing is added in check mode, or when no receipt was
        begun at that path.
    type: path
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.drift_checks import check_state
from ansible_collections.shield.rag.plugins.module_utils.file_state import (
    check_absolute_paths,
    file_state_argument_spec,
)
from ansible_collections.shield.rag.plugins.module_utils.http_probe import (
    CHECK_OPTIONS,
    bad_urls,
)
from ansible_collections.shield.rag.plugins.module_utils.receipt import add_to_pending


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
            "record": {"type": "path"},
        },
        supports_check_mode=True,
    )
    check_absolute_paths(module)
    params = module.params
    for url in bad_urls(params["answers"]):
        module.fail_json(msg=f"answers: {url} is not an http or https URL")

    drift, answers = check_state(
        module,
        {
            "accounts": params["accounts"],
            "directories": params["directories"],
            "files": params["secret_files"] + params["files"],
            "links": params["links"],
            "units": params["units"],
            "answers": [
                {
                    "validate_certs": params["validate_certs"],
                    "ca_path": params["ca_path"],
                    "checks": params["answers"],
                }
            ],
        },
    )
    if params["record"]:
        add_to_pending(module, params["record"], params)
    module.exit_json(changed=False, in_sync=not drift, drift=drift, answers=answers)


if __name__ == "__main__":
    main()
