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
  - Shield RAG contributors
options:
  checks:
    description: The endpoints to wait for.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: What the endpoint is, for messages (defaults to the URL).
        type: str
      url:
        description: The URL to GET (http or https).
        type: str
        required: true
      status:
        description: The HTTP status that means ready.
        type: int
        default: 200
      contains:
        description: Text the body must contain as well.
        type: str
      headers:
        description:
          - Request headers. Their values are kept out of logs and results (API keys).
        type: dict
        default: {}
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
  validate_certs:
    description: Check the server certificates of https URLs.
    type: bool
    default: true
  ca_path:
    description: A CA bundle to check server certificates against instead of the system's.
    type: path
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

import ssl
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

# Bodies are read up to this size to look for `contains` (metrics pages are a few hundred KB).
_MAX_BODY = 4 * 1024 * 1024


def _context(module):
    if not module.params["validate_certs"]:
        return ssl._create_unverified_context()  # noqa: S323 - the operator's explicit choice
    return ssl.create_default_context(cafile=module.params["ca_path"])


def _ask(check, context, request_timeout):
    """One GET: (ready, status, error)."""
    # main() accepts http and https URLs only.
    request = urllib.request.Request(check["url"], headers=check["headers"] or {}, method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=request_timeout, context=context) as answer:  # noqa: S310
            status = answer.status
            body = answer.read(_MAX_BODY) if check.get("contains") else b""
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
    except (OSError, ValueError) as exc:
        return False, -1, str(getattr(exc, "reason", exc))
    if status != check["status"]:
        return False, status, f"HTTP {status}, expected {check['status']}"
    if check.get("contains") and check["contains"].encode() not in body:
        return False, status, f"no {check['contains']!r} in the answer"
    return True, status, ""


def main():
    module = AnsibleModule(
        argument_spec={
            "checks": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str"},
                    "url": {"type": "str", "required": True},
                    "status": {"type": "int", "default": 200},
                    "contains": {"type": "str"},
                    "headers": {"type": "dict", "default": {}, "no_log": True},
                },
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
    for check in checks:
        if not check["url"].startswith(("http://", "https://")):
            module.fail_json(msg=f"{check['url']} is not an http or https URL", results=[])
        check["name"] = check["name"] or check["url"]
    context = _context(module)
    started = time.monotonic()
    deadline = started + max(module.params["timeout"], 0)
    results = [
        {"name": c["name"], "url": c["url"], "ready": False, "status": -1, "error": ""}
        for c in checks
    ]
    with ThreadPoolExecutor(max_workers=min(len(checks), 16) or 1) as pool:
        while True:
            waiting = [i for i, r in enumerate(results) if not r["ready"]]
            answers = pool.map(
                lambda i: _ask(checks[i], context, module.params["request_timeout"]), waiting
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
