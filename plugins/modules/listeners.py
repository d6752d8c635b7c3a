#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: listeners
short_description: Fail before any change when a service's ports are taken by another service
version_added: "0.4.0"
description:
  - Reads which processes listen on the TCP ports a service is about to listen on
    (C(/proc/net/tcp), C(/proc/net/tcp6) and each process's open sockets) and the systemd unit
    each process runs in (its cgroup). A port held by a process outside O(units) is taken, when
    the two addresses overlap (the same address, or either is C(0.0.0.0) or C(::)).
  - Fails, naming each taken port, the variable that set it, and the unit and process that hold
    it, so the play stops before the service is configured to a port it could not bind.
    Never changes anything.
  - A port held by one of O(units) (the service itself, on a host it already runs on) is not
    taken.
  - Fails as well, before reading anything, when a port is no TCP port (1 to 65535) or two of
    O(ports) are the same port on overlapping addresses.
author:
  - Shield RAG contributors (@shield-rag)
options:
  ports:
    description: The ports the service will listen on.
    type: list
    elements: dict
    required: true
    suboptions:
      port:
        description: TCP port number.
        type: int
        required: true
      name:
        description: What sets it (a variable name), for the message.
        type: str
        required: true
      host:
        description:
          - The address the service binds it on. An address that is not an IP address (a host
            name) overlaps every address.
        type: str
        default: 0.0.0.0
  units:
    description: The systemd units of the service, which may hold its ports already.
    type: list
    elements: str
    required: true
notes:
  - Supports check mode; it reads the same in check mode.
  - Needs to read other processes' C(/proc/PID/fd) (root, or C(become)); a listener whose
    process it cannot see is reported as held by an unknown process.
"""

EXAMPLES = r"""
- name: Check that the MCP server's ports are free on this host
  shield.rag.listeners:
    ports:
      - port: "{{ fastmcp_server_port }}"
        name: fastmcp_server_port
        host: "{{ fastmcp_server_host }}"
      - {port: "{{ fastmcp_server_metrics_port }}", name: fastmcp_server_metrics_port}
    units: [shield-mcp.service]
"""

RETURN = r"""
listeners:
  description: The listeners found on O(ports[].port), held by the service or not.
  returned: always
  type: list
  elements: dict
  contains:
    port:
      description: The port.
      type: int
    address:
      description: The address it is bound on.
      type: str
    unit:
      description: The systemd unit of the process holding it (empty for none, or not visible).
      type: str
    process:
      description: The process's name and PID; empty when it cannot be seen.
      type: str
taken:
  description: One sentence per port held by another service; the module fails when there is one.
  returned: always
  type: list
  elements: str
"""

import ipaddress
import os

from ansible.module_utils.basic import AnsibleModule

LISTEN = "0A"
WILDCARDS = (ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::"))


def _address(hex_address, family):
    """An address of /proc/net/tcp (little-endian 32-bit words) as an ip_address."""
    raw = bytes.fromhex(hex_address)
    if family == 4:
        return ipaddress.IPv4Address(raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    address = ipaddress.IPv6Address(words)
    return address.ipv4_mapped or address


def listening_sockets(ports, proc="/proc"):
    """{inode: (address, port)} of the TCP sockets listening on one of ``ports``."""
    found = {}
    for name, family in (("tcp", 4), ("tcp6", 6)):
        try:
            with open(os.path.join(proc, "net", name), encoding="ascii") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            hex_address, hex_port = fields[1].split(":")
            port = int(hex_port, 16)
            if port in ports:
                found[fields[9]] = (_address(hex_address, family), port)
    return found


def _unit(proc, pid):
    try:
        with open(os.path.join(proc, pid, "cgroup"), encoding="utf-8") as cgroup:
            lines = cgroup.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        for part in reversed(line.rpartition(":")[2].split("/")):
            if part.endswith((".service", ".scope")):
                return part
    return ""


def _name(proc, pid):
    try:
        with open(os.path.join(proc, pid, "comm"), encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def holders(inodes, proc="/proc"):
    """{inode: (unit, "name (pid N)")} for the processes whose open sockets are ``inodes``."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found = {}
    for pid in (p for p in os.listdir(proc) if p.isdigit()):
        fds = os.path.join(proc, pid, "fd")
        try:
            links = os.listdir(fds)
        except OSError:
            continue
        for fd in links:
            try:
                inode = wanted.get(os.readlink(os.path.join(fds, fd)))
            except OSError:
                continue
            if inode is not None and inode not in found:
                found[inode] = (_unit(proc, pid), f"{_name(proc, pid)} (pid {pid})")
    return found


def _overlaps(bound, host):
    try:
        wanted = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name: it may resolve to any address
    return bound in WILDCARDS or wanted in WILDCARDS or bound == wanted


def _hosts_overlap(first, second):
    try:
        return _overlaps(ipaddress.ip_address(first), second)
    except ValueError:
        return True  # a host name: it may resolve to any address


def invalid(ports):
    """A sentence for each port that is no TCP port (1 to 65535) and for each two that
    share a port on overlapping addresses: the service could not listen on them."""
    problems = [
        f"{p['name']}: {p['port']} is not a TCP port (1 to 65535)"
        for p in ports
        if not 1 <= p["port"] <= 65535
    ]
    for i, first in enumerate(ports):
        for second in ports[i + 1 :]:
            if first["port"] == second["port"] and _hosts_overlap(first["host"], second["host"]):
                problems.append(
                    f"{first['name']} and {second['name']} are both {first['port']}: "
                    "give each its own port"
                )
    return problems


def check(ports, units, proc="/proc"):
    """The listeners on ``ports`` and a sentence for each one a process outside ``units``
    holds on an overlapping address."""
    sockets = listening_sockets({p["port"] for p in ports}, proc)
    owners = holders(sockets, proc)
    listeners, taken = [], []
    for inode, (address, port) in sorted(sockets.items(), key=lambda item: item[1][1]):
        unit, process = owners.get(inode, ("", ""))
        listeners.append({"port": port, "address": str(address), "unit": unit, "process": process})
        if unit in units:
            continue
        for want in (p for p in ports if p["port"] == port and _overlaps(address, p["host"])):
            holder = f"{unit}, {process}" if unit else process or "a process this user cannot see"
            taken.append(
                f"{want['name']}: port {port} is taken on {address} by {holder}; "
                "choose another port or move that service"
            )
    return listeners, taken


def main():
    module = AnsibleModule(
        argument_spec={
            "ports": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "port": {"type": "int", "required": True},
                    "name": {"type": "str", "required": True},
                    "host": {"type": "str", "default": "0.0.0.0"},
                },
            },
            "units": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    problems = invalid(module.params["ports"])
    if problems:
        module.fail_json(msg="; ".join(problems) + ". Nothing was changed.", changed=False)
    listeners, taken = check(module.params["ports"], module.params["units"])
    if taken:
        module.fail_json(
            msg="; ".join(taken) + ". Nothing was changed.",
            changed=False,
            listeners=listeners,
            taken=taken,
        )
    module.exit_json(changed=False, listeners=listeners, taken=taken)


if __name__ == "__main__":
    main()
