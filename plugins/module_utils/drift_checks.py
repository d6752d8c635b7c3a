# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The comparisons of shield.rag.drift: accounts, directories, files, symbolic links, units and
HTTP answers against their desired state, each difference one sentence appended to a list.
shield.rag.converge_receipt replays the same comparisons from what a converge recorded, where
a file's content is its SHA-256 (``sha256``) instead of the content itself.

A module imports it as
``from ansible_collections.shield.rag.plugins.module_utils.drift_checks import ...``.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat

from ansible_collections.shield.rag.plugins.module_utils.file_state import wanted_bytes
from ansible_collections.shield.rag.plugins.module_utils.http_probe import (
    ask_all,
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


def check_accounts(specs, drift):
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


def check_directories(module, specs, drift):
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


def check_files(module, specs, drift):
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
        if not _same_content(current, spec):
            drift.append(f"{dest}: content differs")
        _attributes(module, dest, spec, info, drift)


def check_links(specs, drift):
    for spec in specs:
        dest, src = spec["dest"], spec["src"]
        if not os.path.islink(dest):
            drift.append(f"{dest}: {'not a symbolic link' if os.path.lexists(dest) else 'missing'}")
        elif os.readlink(dest) != src:
            drift.append(f"{dest}: links to {os.readlink(dest)}, not {src}")
        elif not os.path.exists(dest):
            drift.append(f"{dest}: links to {src}, which is missing")


def check_units(module, units, drift):
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


def check_answers(module, checks, drift, validate_certs, ca_path):
    """Ask every check once; the answers as returned (RV answers)."""
    if not checks:
        return []
    if ca_path and not os.path.exists(ca_path):
        # A new host: the CA bundle is among the files this read finds missing (they are all
        # written, then the service restarted and its answers awaited); its https answers
        # cannot be checked against it yet.
        drift.append(f"{ca_path}: missing, the https answers are not checked against it")
        checks = [c for c in checks if not c["url"].startswith("https://")]
        ca_path = None
    tls = context(validate_certs, ca_path)
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


def _same_content(current, spec):
    """Whether ``current`` (bytes) is the spec's content, or has the spec's ``sha256``."""
    if spec.get("content") is None and spec.get("sha256"):
        return hashlib.sha256(current).hexdigest() == spec["sha256"]
    return current == wanted_bytes(spec)


def check_state(module, state):
    """Every difference of the host from ``state``, one sentence each, and what its HTTP
    endpoints answered. ``state``: ``accounts``, ``directories``, ``files`` (with ``content``
    or ``sha256``), ``links``, ``units`` (names) and ``answers``, a list of groups of checks
    each with its ``validate_certs`` and ``ca_path``."""
    drift = []
    check_accounts(state.get("accounts", []), drift)
    check_directories(module, state.get("directories", []), drift)
    check_files(module, state.get("files", []), drift)
    check_links(state.get("links", []), drift)
    check_units(module, state.get("units", []), drift)
    answers = []
    for group in state.get("answers", []):
        answers += check_answers(
            module, group["checks"], drift, group["validate_certs"], group["ca_path"]
        )
    return drift, answers
