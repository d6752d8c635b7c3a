#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release
short_description: Read, select and prune the installed releases of the Shield RAG runtime
version_added: "0.3.0"
description:
  - The Shield RAG runtime (role C(shield.rag.shield_runtime)) installs each wheelhouse into its
    own release directory, C(<home>/releases/<version>-<digest>/), holding C(venv/), the
    C(manifest.json) written last (version, archive digest, settings schema, install time),
    C(freeze.txt) (C(pip freeze --all) right after the install) and C(settings/) (a copy of every
    settings file, environment file and unit the roles rendered while the release was current,
    at its path below C(/)).
    C(<home>/current) links to the release the services run from; C(<home>/previous) to the one
    that was current before it.
  - With O(release) set, makes that release current in one step, atomically (the links are
    replaced by rename) - C(previous) then names the release that was current before - and
    optionally checks the release's virtualenv against its C(freeze.txt), puts back its settings
    files and marks the unit files with its archive digest (a rollback).
  - With O(keep) set, removes the oldest releases beyond that count (never C(current) or
    C(previous)) and any release directory left without a manifest by an interrupted install.
  - Always returns what is installed.
author:
  - Shield RAG contributors (@shield-rag)
options:
  home:
    description: The runtime's directory (C(shield_runtime_home)).
    type: path
    required: true
  release:
    description:
      - The release to make current, by directory name, or C(previous). Empty to select nothing.
    type: str
    default: ""
  keep:
    description:
      - How many releases to keep, C(current) and C(previous) included; C(0) prunes nothing.
    type: int
    default: 0
  verify_freeze:
    description:
      - Fail, changing nothing, when the selected release's virtualenv does not hold exactly the
        packages its C(freeze.txt) lists (someone installed into it since).
    type: bool
    default: false
  restore_settings:
    description:
      - Put back the settings files the selected release rendered (its C(settings/) copy), each
        replaced atomically with the copy's owner, group and mode.
      - A settings file the current release rendered that the selected one holds no copy of is
        kept when both read the same settings schema; when their schemas differ the module fails
        before any change, naming the file.
    type: bool
    default: false
  units:
    description:
      - Unit files whose C(# shield-rag package:) line is set to the selected release's archive
        digest (so that the next converge with that release's archive finds them in sync). Files
        that do not exist or carry no such line are left alone, and so are the files the release
        holds a copy of (with O(restore_settings), that copy is put back instead).
    type: list
    elements: path
    default: []
notes:
  - Supports check mode (reports what would change, changes nothing; the freeze check runs).
"""

EXAMPLES = r"""
- name: Roll the runtime back to the release that was current before
  shield.rag.release:
    home: /opt/shield-rag
    release: previous
    verify_freeze: true
    restore_settings: true
    units: [/etc/systemd/system/shield-orchestrator.service]
  register: __rollback
"""

RETURN = r"""
releases:
  description: The complete releases, oldest install first, with their manifests.
  returned: always
  type: list
  elements: dict
  sample:
    - name: 0.3.0-3f1c2a9b8d7e
      version: 0.3.0
      settings_schema: 1
      settings: [/etc/shield-rag/orchestrator.yml]
current:
  description: The release C(current) names after the module ran (empty when none).
  returned: always
  type: str
previous:
  description: The release C(previous) names after the module ran (empty when none).
  returned: always
  type: str
selected_from:
  description: The release that was current before the selection (empty when nothing changed).
  returned: always
  type: str
changed_paths:
  description: Settings and unit files that were (in check mode, would be) rewritten.
  returned: always
  type: list
  elements: str
pruned:
  description: Release directories that were (would be) removed.
  returned: always
  type: list
  elements: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.file_state import read_json_object

_UNIT_MARK = "# shield-rag package: wheelhouse sha256 "


def _settings(release_dir):
    base = os.path.join(release_dir, "settings")
    found = []
    for top, _dirs, files in os.walk(base):
        for name in files:
            found.append("/" + os.path.relpath(os.path.join(top, name), base))
    return sorted(found)


def _link_target(path):
    try:
        return os.path.basename(os.readlink(path).rstrip("/"))
    except OSError:
        return ""


def read_state(home):
    """The complete releases (oldest install first), the partial ones, current and previous."""
    releases_dir = os.path.join(home, "releases")
    complete, partial = [], []
    names = sorted(os.listdir(releases_dir)) if os.path.isdir(releases_dir) else []
    for name in names:
        path = os.path.join(releases_dir, name)
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        manifest = read_json_object(os.path.join(path, "manifest.json"))
        if manifest is None:
            partial.append(name)
            continue
        complete.append(dict(manifest, name=name, path=path, settings=_settings(path)))
    complete.sort(key=lambda item: (str(item.get("installed_at", "")), item["name"]))
    return {
        "releases": complete,
        "partial": partial,
        "current": _link_target(os.path.join(home, "current")),
        "previous": _link_target(os.path.join(home, "previous")),
    }


def _replace_link(path, target):
    """Points the symlink path at target, atomically (a new link renamed over the old)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _same_bytes(a, b):
    try:
        with open(a, "rb") as one, open(b, "rb") as two:
            return one.read() == two.read()
    except OSError:
        return False


def _copy_over(src, dest):
    """Replaces dest by a copy of src (content, mode, owner, group), atomically."""
    st = os.stat(src)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".shield-release-")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, dest)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _freeze_difference(module, release):
    python = os.path.join(release["path"], "venv", "bin", "python")
    rc, out, err = module.run_command(
        [python, "-m", "pip", "freeze", "--all", "--disable-pip-version-check"]
    )
    if rc != 0:
        return [f"pip freeze failed: {err.strip() or out.strip()}"]
    try:
        with open(os.path.join(release["path"], "freeze.txt"), encoding="utf-8") as handle:
            recorded = handle.read().splitlines()
    except OSError as exc:
        return [f"cannot read freeze.txt: {exc.strerror}"]
    now = out.splitlines()
    return [f"- {line}" for line in recorded if line not in now] + [
        f"+ {line}" for line in now if line not in recorded
    ]


def _settings_plan(module, target, current):
    """The settings files to put back (src, dest) when target becomes current."""
    plan = []
    for dest in target["settings"]:
        src = os.path.join(target["path"], "settings", dest.lstrip("/"))
        if not _same_bytes(src, dest):
            plan.append((src, dest))
    if current is None:
        return plan
    missing = sorted(set(current["settings"]) - set(target["settings"]))
    schemas = (target.get("settings_schema"), current.get("settings_schema"))
    if missing and schemas[0] != schemas[1]:
        module.fail_json(
            msg=(
                f"Release {target['name']} reads settings schema {schemas[0]}, the current "
                f"release {current['name']} schema {schemas[1]}, and {target['name']} holds no "
                f"settings it rendered for {', '.join(missing)}: switching would leave those "
                "files in a format it may not read. Nothing was changed. Roll back with "
                f"site.yml and {target['name']}'s wheelhouse archive instead (it renders "
                "every settings file in that release's format), or choose another release."
            ),
            changed=False,
        )
    return plan


def _unit_plan(units, archive_sha256):
    plan = []
    for path in units:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines(keepends=True)
        except OSError:
            continue
        wanted = [
            f"{_UNIT_MARK}{archive_sha256}\n" if line.startswith(_UNIT_MARK) else line
            for line in lines
        ]
        if wanted != lines:
            plan.append((path, "".join(wanted)))
    return plan


def _write_text(path, text):
    st = os.stat(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".shield-release-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.replace(tmp, path)


def _prune_plan(state, keep):
    if keep <= 0:
        return []
    fixed = {state["current"], state["previous"]} - {""}
    others = [r["name"] for r in reversed(state["releases"]) if r["name"] not in fixed]
    room = max(keep - len(fixed), 0)
    return sorted(others[room:] + state["partial"])


def _select(module, state, wanted, result):
    by_name = {r["name"]: r for r in state["releases"]}
    name = state["previous"] if wanted == "previous" else wanted
    if not name or name not in by_name:
        known = ", ".join(by_name) or "none"
        if state["partial"]:
            known += " (incomplete, no readable manifest.json: " + ", ".join(state["partial"]) + ")"
        what = (
            "no previous release is recorded"
            if wanted == "previous" and not name
            else (f"release {name} is not installed")
        )
        module.fail_json(msg=f"Cannot select a release: {what}. Installed: {known}.", **result)
    target, current = by_name[name], by_name.get(state["current"])
    if module.params["verify_freeze"]:
        difference = _freeze_difference(module, target)
        if difference:
            module.fail_json(
                msg=(
                    f"The virtualenv of release {name} no longer holds the packages it was "
                    "installed with (freeze.txt); nothing was changed. Reinstall it with its "
                    "wheelhouse archive. Differences: " + "; ".join(difference[:20])
                ),
                **result,
            )
    settings = _settings_plan(module, target, current) if module.params["restore_settings"] else []
    # A unit file the release rendered itself is put back as it was, mark included.
    marked = [path for path in module.params["units"] if path not in target["settings"]]
    units = _unit_plan(marked, target.get("archive_sha256", ""))
    switching = state["current"] != name
    result["changed_paths"] = [dest for _src, dest in settings] + [path for path, _t in units]
    result["changed"] = switching or bool(result["changed_paths"])
    if switching:
        result["selected_from"] = state["current"]
    if module.check_mode:
        if switching:
            state["previous"], state["current"] = state["current"], name
        return
    for src, dest in settings:
        _copy_over(src, dest)
    for path, text in units:
        _write_text(path, text)
    if switching:
        home = module.params["home"]
        if state["current"]:
            _replace_link(
                os.path.join(home, "previous"), os.path.join(home, "releases", state["current"])
            )
        _replace_link(os.path.join(home, "current"), target["path"])
        state["previous"], state["current"] = state["current"], name


def main():
    module = AnsibleModule(
        argument_spec={
            "home": {"type": "path", "required": True},
            "release": {"type": "str", "default": ""},
            "keep": {"type": "int", "default": 0},
            "verify_freeze": {"type": "bool", "default": False},
            "restore_settings": {"type": "bool", "default": False},
            "units": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    home = module.params["home"]
    result = {"changed": False, "changed_paths": [], "pruned": [], "selected_from": ""}
    try:
        state = read_state(home)
        if module.params["release"]:
            _select(module, state, module.params["release"], result)
        result["pruned"] = _prune_plan(state, module.params["keep"])
        if result["pruned"]:
            result["changed"] = True
            if not module.check_mode:
                for name in result["pruned"]:
                    shutil.rmtree(os.path.join(home, "releases", name))
        if not module.check_mode:
            state = read_state(home)
    except OSError as exc:
        module.fail_json(msg=f"{exc.filename or home}: {exc.strerror}", **result)
    pruned = set(result["pruned"])
    result["releases"] = [
        {key: value for key, value in release.items() if key != "path"}
        for release in state["releases"]
        if release["name"] not in pruned
    ]
    result["current"], result["previous"] = state["current"], state["previous"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
