#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wait_http
short_description: Wait until several HTTP endpoints answer as expected, in one step
version_added: "0.2.0"
description:
  - Asks every URL of O(checks) from the managed host, again every O(delay) seconds, until each
    has answered with its expected status (and, when given, a body containing O(checks[].contains))
    or O(timeout) seconds have passed. The endpoints are polled together, so waiting for five
    services costs one round trip and the time of the slowest one.
  - Fails, naming every endpoint that was not ready and its last answer or error, when the time
    is up. Never changes anything.
author:
  - Shield RAG contributors (@shield-rag)
options:
  checks:
    description: The endpoints to wait for.
  timeout:
    description: Seconds to wait in all; C(0) asks each endpoint once.
    type: int
    default: 60
  delay:
    description: Seconds between two rounds of requests.
    type: float
    default: 1.0
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5.0
extends_documentation_fragment:
  - shield.rag.http_checks.wait
notes:
  - Supports check mode; it asks the endpoints in check mode too (it changes nothing).
"""

EXAMPLES = r"""
- name: Wait until Prometheus and Alertmanager are ready
  shield.rag.wait_http:
    checks:
      - {name: Prometheus, url: "http://127.0.0.1:9090/-/ready"}
      - {name: Alertmanager, url: "http://127.0.0.1:9093/-/ready"}
      - {name: Redis exporter, url: "http://127.0.0.1:9121/metrics", contains: "redis_up 1"}
    timeout: 120
"""

RETURN = r"""
results:
  description: One entry per check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check's name.
      type: str
    url:
      description: The URL asked.
      type: str
    ready:
      description: Whether it answered as expected.
      type: bool
    status:
      description: The last HTTP status (-1 when no answer).
      type: int
    error:
      description: Why the last answer was not the expected one (empty when ready).
      type: str
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.http_probe import (
    CHECK_OPTIONS,
    ask_all,
    bad_urls,
    context,
    pool_for,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "checks": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": CHECK_OPTIONS,
            },
            "timeout": {"type": "int", "default": 60},
            "delay": {"type": "float", "default": 1.0},
            "request_timeout": {"type": "float", "default": 5.0},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    checks = module.params["checks"]
    for url in bad_urls(checks):
        module.fail_json(msg=f"{url} is not an http or https URL", results=[])
    for check in checks:
        check["name"] = check["name"] or check["url"]
    tls = context(module.params["validate_certs"], module.params["ca_path"])
    started = time.monotonic()
    deadline = started + max(module.params["timeout"], 0)
    results = [
        {"name": c["name"], "url": c["url"], "ready": False, "status": -1, "error": ""}
        for c in checks
    ]
    with pool_for(checks) as pool:
        while True:
            waiting = [i for i, r in enumerate(results) if not r["ready"]]
            answers = ask_all(
                pool, [checks[i] for i in waiting], tls, module.params["request_timeout"]
            )
            for i, (ready, status, error) in zip(waiting, answers, strict=True):
                results[i].update(ready=ready, status=status, error=error)
            if all(r["ready"] for r in results) or time.monotonic() >= deadline:
                break
            time.sleep(min(module.params["delay"], max(deadline - time.monotonic(), 0)))
    elapsed = round(time.monotonic() - started, 3)
    not_ready = [r for r in results if not r["ready"]]
    if not_ready:
        module.fail_json(
            msg="not ready within {} s: {}".format(
                module.params["timeout"],
                "; ".join(f"{r['name']} ({r['url']}): {r['error']}" for r in not_ready),
            ),
            results=results,
            elapsed=elapsed,
        )
    module.exit_json(changed=False, results=results, elapsed=elapsed)


if __name__ == "__main__":
    main()
