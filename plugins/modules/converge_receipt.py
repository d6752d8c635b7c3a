#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: converge_receipt
short_description: Read, begin, commit or forget the receipt of a host's last full converge
version_added: "0.4.0"
description:
  - A converge receipt records what the last full run of C(playbooks/site.yml) left on a host
    (the accounts, directories, files, symbolic links, units and HTTP answers that
    M(shield.rag.drift) compared and M(shield.rag.files) wrote, each file's content as its
    SHA-256) with the digest of the run's inputs. A later run whose inputs have the same digest
    replays those comparisons in one round trip; when nothing differs, the roles have nothing
    to change on that host and site.yml leaves it there (see C(docs/deploy.md)).
  - O(state=checked) reads the receipt and replays it, changing nothing.
  - O(state=begun) forgets the receipt and begins a pending one for O(digest), which
    M(shield.rag.drift) and M(shield.rag.files) add to (their C(record) option).
  - O(state=committed) makes the pending receipt of O(digest) the receipt.
  - O(state=absent) forgets both (a run that may change the host outside a full site.yml run).
  - The action plugin of the same name computes O(digest) on the controller when it is not
    given, and turns O(state=begun) into O(state=absent) for a run that is not a full one
    (tags, C(--start-at-task), C(--step)).
  - The receipt is bookkeeping of the run, not state of the service, so the module never
    reports a change.
  - The receipt and the pending receipt are readable by root only. Files are in them by
    SHA-256; the health URLs are kept with the headers they are asked with (Qdrant's API key
    among them), as the services' own configuration files on the host keep them.
author:
  - Shield RAG contributors (@shield-rag)
options:
  state:
    description: What to do with the receipt.
    type: str
    choices: [checked, begun, committed, absent]
    default: checked
  digest:
    description:
      - The digest of the run's inputs; required for O(state=checked), O(state=begun) and
        O(state=committed). The action plugin computes it when it is not given.
    type: str
  path:
    description: The directory of the receipt and the pending receipt (root only).
    type: path
    default: /var/lib/shield-rag/converge
  max_age_hours:
    description:
      - With O(state=checked), a receipt committed longer ago than this is not used, so that
        a full run still comes at least this often (what depends on the date, such as the
        renewal of the lab CA's certificates, and what the receipt does not record, such as
        packages, Qdrant collections and Ollama models, is then checked again). V(0) never
        uses a receipt.
    type: float
    default: 24
notes:
  - O(state=checked) runs the same in check mode; the other states change nothing in check
    mode.
seealso:
  - module: shield.rag.drift
"""

EXAMPLES = r"""
- name: Compare the host with its last full converge
  shield.rag.converge_receipt:
    state: checked
  register: __receipt

- name: Begin recording this full run
  shield.rag.converge_receipt:
    state: begun
    digest: "{{ __receipt.digest }}"
  when: not __receipt.in_sync
"""

RETURN = r"""
digest:
  description: The digest of the run's inputs the call was made with.
  returned: always
  type: str
in_sync:
  description:
    - Whether the receipt was made with O(digest) and the host is still as it recorded.
      False for every state but O(state=checked).
  returned: always
  type: bool
reason:
  description: Why the host is not in sync with a receipt (empty when it is).
  returned: always
  type: str
drift:
  description: What differs from the receipt, one sentence each (as M(shield.rag.drift)).
  returned: always
  type: list
  elements: str
pending:
  description: The pending receipt's path, when O(state=begun) began one; empty otherwise.
  returned: always
  type: str
committed:
  description: Whether O(state=committed) made the pending receipt the receipt.
  returned: always
  type: bool
"""

import contextlib
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.drift_checks import check_state
from ansible_collections.shield.rag.plugins.module_utils.file_state import read_json_object
from ansible_collections.shield.rag.plugins.module_utils.receipt import (
    PENDING,
    RECEIPT,
    RECEIPT_DIR,
    empty_record,
    write,
)


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {
                "type": "str",
                "default": "checked",
                "choices": ["checked", "begun", "committed", "absent"],
            },
            "digest": {"type": "str"},
            "path": {"type": "path", "default": RECEIPT_DIR},
            "max_age_hours": {"type": "float", "default": 24},
        },
        required_if=[
            ("state", "checked", ["digest"]),
            ("state", "begun", ["digest"]),
            ("state", "committed", ["digest"]),
        ],
        supports_check_mode=True,
    )
    state, digest = module.params["state"], module.params["digest"] or ""
    max_age = module.params["max_age_hours"] * 3600
    receipt_path = os.path.join(module.params["path"], RECEIPT)
    pending_path = os.path.join(module.params["path"], PENDING)
    result = {
        "changed": False,
        "digest": digest,
        "in_sync": False,
        "reason": "",
        "drift": [],
        "pending": "",
        "committed": False,
    }

    if state == "checked":
        receipt = read_json_object(receipt_path)
        if receipt is None:
            result["reason"] = f"no converge receipt in {module.params['path']}"
        elif receipt.get("digest") != digest:
            result["reason"] = "the inputs changed since the last full converge"
        elif time.time() - float(receipt.get("committed_at", 0)) > max_age:
            result["reason"] = (
                f"the last full converge is older than {module.params['max_age_hours']:g} hours"
            )
        else:
            record = dict(receipt.get("record", {}))
            record["units"] = [unit["name"] for unit in record.get("units", [])]
            result["drift"] = check_state(module, record)[0]
            result["in_sync"] = not result["drift"]
            if result["drift"]:
                result["reason"] = "the host changed since the last full converge"
    elif module.check_mode:
        result["reason"] = "check mode: the receipt is left as it is"
    elif state == "begun":
        _remove(receipt_path)
        write(pending_path, {"digest": digest, "record": empty_record()})
        result["pending"] = pending_path
    elif state == "committed":
        pending = read_json_object(pending_path)
        if pending is not None and pending.get("digest") == digest:
            pending["committed_at"] = time.time()
            write(receipt_path, pending)
            _remove(pending_path)
            result["committed"] = True
        else:
            result["reason"] = f"no pending receipt of this run in {module.params['path']}"
    else:
        _remove(receipt_path)
        _remove(pending_path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
