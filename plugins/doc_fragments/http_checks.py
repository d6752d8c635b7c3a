# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The HTTP endpoints that shield.rag.wait_http waits for (option checks) and shield.rag.drift
asks once (option answers), and the TLS options both take; plugins/module_utils/http_probe.py
asks them.

A module extends shield.rag.http_checks.wait or shield.rag.http_checks.drift and gives the list
option its own description (the module's keys of an option replace the fragment's). Both
fragments are written out whole: ansible-test's yamllint reads them as string literals.
"""

from __future__ import annotations


class ModuleDocFragment:
    # shield.rag.http_checks.wait: the endpoints shield.rag.wait_http waits for.
    WAIT = r"""
options:
  checks:
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
        description: Request headers. Their values are kept out of logs and results (API keys).
        type: dict
        default: {}
  validate_certs:
    description: Check the server certificates of https URLs.
    type: bool
    default: true
  ca_path:
    description: A CA bundle to check server certificates against instead of the system's.
    type: path
"""

    # shield.rag.http_checks.drift: the endpoints shield.rag.drift asks once.
    DRIFT = r"""
options:
  answers:
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What the endpoint is, for messages (defaults to the URL).
        type: str
      url:
        description: The URL to GET (http or https).
        type: str
        required: true
      status:
        description: The HTTP status that means it answers.
        type: int
        default: 200
      contains:
        description: Text the body must contain as well.
        type: str
      headers:
        description: Request headers. Their values are kept out of logs and results (API keys).
        type: dict
        default: {}
  validate_certs:
    description: Check the server certificates of https URLs.
    type: bool
    default: true
  ca_path:
    description: A CA bundle to check server certificates against instead of the system's.
    type: path
"""
