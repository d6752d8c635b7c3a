# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Filters of shield.rag.qdrant's upgrade rule: which Qdrant release a host has, whether going
from it to qdrant_version is a path Qdrant supports, and which old releases may go.

Qdrant upgrades one minor version at a time (from 1.17.x to the latest 1.18.x, then 1.19.x);
patch upgrades within a minor are fine; snapshots restore onto the same minor only; downgrades
are not supported beyond what the storage format allows. Docs: the .yml files next to this one.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_WANTED = "the wanted Qdrant version (qdrant_version)"
_CURRENT = "the installed Qdrant version (the release /usr/local/bin/qdrant links to)"


def _parse(value, what):
    text = "" if value is None else str(value).strip()
    match = _VERSION.fullmatch(text)
    if match:
        return tuple(int(part) for part in match.groups())
    if text.lower().startswith("v") and _VERSION.fullmatch(text[1:]):
        hint = f"write it without the leading v: {text[1:]!r}"
    elif _VERSION.match(text):
        hint = "pre-release and build suffixes are not supported by the upgrade check"
    else:
        hint = "a Qdrant release version is three numbers, e.g. '1.19.1'"
    raise AnsibleFilterError(f"{what} is {text!r}, not a release version X.Y.Z: {hint}")


def _text(version):
    return ".".join(str(part) for part in version)


def _minor(version):
    return f"{version[0]}.{version[1]}"


def qdrant_upgrade_path(current, wanted, allow_downgrade=False):
    """What going from release `current` ('' or None: none installed) to `wanted` is:
    {allowed, kind, current, wanted, message}; kind is none, install, patch, minor,
    downgrade, skip (a minor version or more left out) or major. Raises on a version that is
    not X.Y.Z."""
    new = _parse(wanted, _WANTED)
    result = {"current": "", "wanted": _text(new)}
    if current is None or str(current).strip() == "":
        return dict(
            result,
            allowed=True,
            kind="install",
            message=f"No Qdrant release is current on this host: {_text(new)} is installed.",
        )
    old = _parse(current, _CURRENT)
    result["current"] = _text(old)
    change = f"Qdrant {_text(old)} to {_text(new)}"
    if new == old:
        return dict(
            result,
            allowed=True,
            kind="none",
            message=f"Qdrant {_text(new)} is current: nothing to upgrade.",
        )
    if new < old:
        same_minor = new[:2] == old[:2]
        storage = (
            f"a patch downgrade within {_minor(new)}; the storage format does not change "
            "within a minor version"
            if same_minor
            else f"storage written by {_text(old)} may not load in {_text(new)} (Qdrant "
            "supports downgrades only as far as its storage format allows)"
        )
        if bool(allow_downgrade):
            return dict(
                result,
                allowed=True,
                kind="downgrade",
                message=f"{change} is a downgrade, allowed by qdrant_allow_downgrade: {storage}.",
            )
        return dict(
            result,
            allowed=False,
            kind="downgrade",
            message=(
                f"{change} is a downgrade, refused: {storage}. The supported way back to "
                f"{_minor(new)} is restoring, on a {_minor(new)} release, the snapshots taken "
                f"on {_minor(new)} (playbooks/restore.yml); the role takes one of every "
                "collection before it switches releases. To downgrade anyway (a patch "
                "rollback within a minor version is storage compatible), set "
                "qdrant_allow_downgrade: true."
            ),
        )
    if new[0] != old[0]:
        return dict(
            result,
            allowed=False,
            kind="major",
            message=(
                f"{change} changes the major version, refused: Qdrant upgrades one minor "
                f"version at a time. Upgrade to the latest {old[0]}.x release first (one minor "
                f"version at a time), then follow Qdrant's release notes for {new[0]}.x; "
                "take snapshots of every collection before each step."
            ),
        )
    if new[1] == old[1]:
        return dict(
            result,
            allowed=True,
            kind="patch",
            message=(
                f"{change}: a patch upgrade within {_minor(new)}; setting qdrant_version back "
                f"to {_text(old)} (with qdrant_allow_downgrade) is a valid rollback."
            ),
        )
    if new[1] == old[1] + 1:
        return dict(
            result,
            allowed=True,
            kind="minor",
            message=(
                f"{change}: one minor version up. Storage written by {_text(new)} may not load "
                f"in {_text(old)}: the way back is restoring the snapshots taken on "
                f"{_minor(old)} before the switch."
            ),
        )
    steps = [f"the latest {new[0]}.{minor}.x" for minor in range(old[1] + 1, new[1])]
    path = ", then ".join([*steps, _text(new)])
    return dict(
        result,
        allowed=False,
        kind="skip",
        message=(
            f"{change} skips {len(steps)} minor version{'s' if len(steps) > 1 else ''}, "
            f"refused: Qdrant upgrades one minor version at a time. Upgrade to {path} "
            "(set qdrant_version to each in turn and converge)."
        ),
    )


def qdrant_linked_version(drift, link, wanted_binary, install_root):
    """The version of the release `link` holds (install_root/<version>/qdrant), read from the
    differences shield.rag.drift reported for the link spec {dest: link, src: wanted_binary}:
    none about `link` means it holds wanted_binary. '' when the link is missing, is not a
    symbolic link, or holds a path outside install_root."""
    prefix = f"{link}: "
    target = wanted_binary
    for line in drift or []:
        if not str(line).startswith(prefix):
            continue
        rest = str(line)[len(prefix) :]
        if rest.startswith("links to ") and rest.endswith(f", not {wanted_binary}"):
            target = rest[len("links to ") : -len(f", not {wanted_binary}")]
        elif rest == f"links to {wanted_binary}, which is missing":
            target = wanted_binary
        else:
            target = ""
        break
    root = str(install_root).rstrip("/") + "/"
    if not target.startswith(root) or not target.endswith("/qdrant"):
        return ""
    version = target[len(root) : -len("/qdrant")]
    return "" if "/" in version or not version else version


def qdrant_releases_to_prune(releases, keep, current_dir, previous_dir=""):
    """The release directories (paths) to remove so that `keep` remain: `releases` are
    ansible.builtin.find's files (path, mtime) below the install root; only directories named
    X.Y.Z count. current_dir and previous_dir are never listed, and count among those kept;
    the others are kept newest install (mtime) first. keep 0: nothing is removed."""
    keep = int(keep)
    if keep <= 0:
        return []
    spared = {str(path).rstrip("/") for path in (current_dir, previous_dir) if path}
    others = [
        entry
        for entry in releases or []
        if _VERSION.fullmatch(str(entry["path"]).rstrip("/").rsplit("/", 1)[-1])
        and str(entry["path"]).rstrip("/") not in spared
    ]
    others.sort(key=lambda entry: float(entry.get("mtime", 0)), reverse=True)
    room = max(keep - len(spared), 0)
    return [str(entry["path"]) for entry in others[room:]]


class FilterModule:
    def filters(self):
        return {
            "qdrant_upgrade_path": qdrant_upgrade_path,
            "qdrant_linked_version": qdrant_linked_version,
            "qdrant_releases_to_prune": qdrant_releases_to_prune,
        }
