# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Tests of the addresses the Shield services bind to or connect to: ``host_address`` (an IP
address or a host name, as the services' settings check reads them) and ``ip_address``.

The services' settings (``shield_rag.settings.base.host_problem``) apply the same rule; a unit
test holds the two to the same answers. Docs: the .yml files next to this one.
"""

from __future__ import annotations

import ipaddress
import re

# A DNS label (letters, digits, hyphens, and underscores as container and inventory names
# have them), 1 to 63 characters, not beginning or ending with a hyphen.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def ip_address(value):
    """Whether ``value`` is an IPv4 or IPv6 address (no brackets, no port)."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_address(value):
    """Whether ``value`` is an IP address or a host name: no scheme, port, path or brackets."""
    if ip_address(value):
        return True
    if not isinstance(value, str):
        return False
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    # An all-digit last label is a malformed address (999.1.1.1, 10.0.5), not a name.
    return all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


class TestModule:
    def tests(self):
        return {"host_address": host_address, "ip_address": ip_address}
