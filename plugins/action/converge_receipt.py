# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

"""The controller side of shield.rag.converge_receipt: the digest of a run's inputs, and whether
the run is a full one.

The digest covers everything a role of the collection reads on the controller, conservatively
(a change anywhere in it means a full run, never a wrong skip):

- the collection's own files (roles, plugins, playbooks) and ansible-core's version;
- every inventory host's variables as written (inventory, group and host variables, extra
  variables; not the values registered or set during a run, which are named ``__*`` in this
  collection), the facts the roles read (platform, service manager, addresses), and the groups;
- the value of every variable of this host that calls a lookup (an environment variable, a
  file, a password store), evaluated;
- the content of the controller files and directories the stack roles' options name (their
  argument_specs say "on the controller": the wheelhouse, the release archives, TLS files,
  the lab CA's directory), by SHA-256 (by size and modification time above 16 MiB): a new
  wheelhouse or certificate at the same path is a change.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

import yaml
from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.template import trust_as_template

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The collection's files that decide what its roles do.
COLLECTION_DIRS = ("roles", "plugins", "playbooks")
# The facts the roles read; the others change with time or load (dates, memory, mounts).
FACTS = (
    "architecture",
    "default_ipv4",
    "default_ipv6",
    "distribution",
    "distribution_major_version",
    "distribution_release",
    "distribution_version",
    "fqdn",
    "hostname",
    "service_mgr",
)
# Variables Ansible sets for the play, the run or the task, not inputs of the roles.
RUN_VARIABLES = frozenset(
    (
        "ansible_check_mode",
        "ansible_collection_name",
        "ansible_config_file",
        "ansible_dependent_role_names",
        "ansible_diff_mode",
        "ansible_facts",
        "ansible_forks",
        "ansible_index_var",
        "ansible_inventory_sources",
        "ansible_limit",
        "ansible_local",
        "ansible_loop",
        "ansible_loop_var",
        "ansible_parent_role_names",
        "ansible_parent_role_paths",
        "ansible_play_batch",
        "ansible_play_hosts",
        "ansible_play_hosts_all",
        "ansible_play_name",
        "ansible_play_role_names",
        "ansible_playbook_python",
        "ansible_role_name",
        "ansible_role_names",
        "ansible_run_tags",
        "ansible_search_path",
        "ansible_skip_tags",
        "ansible_verbosity",
        "ansible_version",
        "discovered_interpreter_python",
        "environment",
        "groups",
        "hostvars",
        "module_setup",
        "omit",
        "play_hosts",
        "playbook_dir",
        "role_name",
        "role_names",
        "role_path",
        "vars",
    )
)
LOOKUP_MARKS = ("lookup(", "query(", "q(")
# The roles site.yml runs, whose options naming files or directories on the controller (their
# argument_specs say "on the controller") are inputs by their content.
STACK_ROLES = (
    "edge",
    "fastmcp_server",
    "lightrag",
    "monitoring",
    "ollama",
    "orchestrator_fastapi",
    "orchestrator_workers",
    "qdrant",
    "redis",
    "shield_runtime",
)
MAX_LISTED = 5000  # files listed per directory a variable names
# A file up to this size counts by its content (a stand-in or certificate written again with
# the same bytes is the same input); a larger one (a wheelhouse, a release archive) by its
# size and modification time, which a new file at the same path changes.
MAX_HASHED = 16 * 1024 * 1024


def partial_run():
    """Why this run is not a full one (it runs only some tasks), or an empty string."""
    args = context.CLIARGS
    tags = set(args.get("tags") or ("all",))
    if tags != {"all"}:
        return "--tags " + ",".join(sorted(tags))
    if args.get("skip_tags"):
        return "--skip-tags " + ",".join(sorted(args["skip_tags"]))
    if args.get("start_at_task"):
        return "--start-at-task"
    if args.get("step"):
        return "--step"
    return ""


def plain(value, depth=0):
    """``value`` as JSON-serialisable data (mappings sorted, anything else as text)."""
    if depth > 32:
        return "..."
    if isinstance(value, Mapping):
        return {to_text(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(item, depth + 1) for item in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return to_text(value)


def strings(value, depth=0):
    """Every string inside ``value``."""
    if depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item, depth + 1)


def collection_digest():
    digest = hashlib.sha256()
    for top in COLLECTION_DIRS:
        for root, dirs, files in os.walk(os.path.join(COLLECTION_ROOT, top)):
            dirs[:] = sorted(name for name in dirs if name != "__pycache__")
            for name in sorted(files):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, COLLECTION_ROOT).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def host_inputs(variables):
    """A host's variables as written, without what a run sets, and the facts the roles read."""
    facts = variables.get("ansible_facts") or {}
    injected = {f"ansible_{name}" for name in facts}
    kept = {
        name: plain(value)
        for name, value in variables.items()
        if not name.startswith("__") and name not in RUN_VARIABLES and name not in injected
    }
    kept["facts"] = {name: plain(facts.get(name)) for name in FACTS}
    return kept


def file_state(path, info):
    if info.st_size > MAX_HASHED:
        return [info.st_size, info.st_mtime_ns]
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError as error:
        return f"unreadable: {error.strerror}"


def path_state(path):
    """What a controller path is now: a file's content (its size and modification time when
    larger than MAX_HASHED), a directory's files' (at most MAX_LISTED), or None when nothing
    is there."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not os.path.isdir(path):
        return file_state(path, info)
    listed = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                entry = os.stat(full)
            except OSError:
                continue
            listed.append([os.path.relpath(full, path), file_state(full, entry)])
            if len(listed) >= MAX_LISTED:
                return listed
    return listed


def controller_path_options():
    """The stack roles' options that name a file or directory on the controller, with their
    defaults as written."""
    options = {}
    roles = os.path.join(COLLECTION_ROOT, "roles")
    for role in STACK_ROLES:
        specs_file = os.path.join(roles, role, "meta", "argument_specs.yml")
        defaults_file = os.path.join(roles, role, "defaults", "main.yml")
        if not os.path.exists(specs_file):
            continue
        with open(specs_file, encoding="utf-8") as handle:
            specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
        defaults = {}
        if os.path.exists(defaults_file):
            with open(defaults_file, encoding="utf-8") as handle:
                defaults = yaml.safe_load(handle) or {}
        for entry in specs.values():
            for name, option in (entry.get("options") or {}).items():
                description = option.get("description") or ""
                if not isinstance(description, str):
                    description = " ".join(description)
                if "on the controller" in description and not name.startswith("_"):
                    options[name] = defaults.get(name, option.get("default"))
    return options


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "digest", "path", "max_age_hours"))

    def _evaluated(self, value):
        """``value`` templated for this host; the error's text when it cannot be."""
        try:
            return plain(self._templar.template(value))
        except Exception as error:  # noqa: BLE001 - an input that fails is still an input
            return f"cannot be evaluated: {type(error).__name__}"

    def inputs_digest(self, task_vars):
        hostvars = task_vars["hostvars"]
        hosts = sorted(task_vars.get("groups", {}).get("all", []))
        raw = hostvars.raw_get(task_vars["inventory_hostname"])
        own = host_inputs(raw)
        lookups, paths = {}, {}
        for name in sorted(own):
            for text in strings(raw.get(name)):
                if any(mark in text for mark in LOOKUP_MARKS):
                    lookups[f"{name}: {text}"] = self._evaluated(text)
        candidates = set()
        for name, default in controller_path_options().items():
            if isinstance(default, str):
                default = trust_as_template(default)
            value = raw.get(name, default)
            if isinstance(value, str) and "{{" in value:
                value = self._evaluated(value)
            if isinstance(value, str):
                candidates.add(value)
        for text in sorted(candidates):
            if text.startswith(("/", "~/")) and "\n" not in text and len(text) < 4096:
                state = path_state(os.path.expanduser(text))
                if state is not None:
                    paths[text] = state
        inputs = {
            "ansible": ansible_version,
            "collection": collection_digest(),
            "groups": plain(task_vars.get("groups", {})),
            "hosts": {host: host_inputs(hostvars.raw_get(host)) for host in hosts},
            "lookups": lookups,
            "paths": paths,
        }
        encoded = json.dumps(inputs, sort_keys=True, default=to_text).encode()
        return hashlib.sha256(encoded).hexdigest()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        state = args.get("state", "checked")
        if state not in ("checked", "begun", "committed", "absent"):
            choices = "checked, begun, committed or absent"
            result.update(failed=True, msg=f"state: {state!r} is not {choices}")
            return result
        if state in ("checked", "begun") and not args.get("digest"):
            args["digest"] = self.inputs_digest(task_vars)
        partial = partial_run()
        if partial and state == "checked":
            result.update(
                changed=False,
                digest=args["digest"],
                in_sync=False,
                reason=f"not a full run ({partial}): every role runs",
                drift=[],
                pending="",
                committed=False,
            )
            return result
        if partial and state == "begun":
            args = {key: value for key, value in args.items() if key != "digest"}
            args["state"] = "absent"
        result.update(
            self._execute_module(
                module_name="shield.rag.converge_receipt", module_args=args, task_vars=task_vars
            )
        )
        if partial:
            result["reason"] = f"not a full run ({partial}): the receipt is forgotten"
        return result
