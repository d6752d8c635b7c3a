#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: qdrant_snapshots
short_description: Back up Qdrant collections to snapshot files and restore them
version_added: "0.3.0"
description:
  - Runs on the Qdrant host and talks to Qdrant's REST API at O(url).
  - With O(state=saved), takes a snapshot of each collection of O(collections) (every
    collection when empty), downloads it to C(<dest>/<collection>.snapshot), checks its SHA-256
    against the checksum Qdrant gives, and deletes the snapshot on the server (unless
    O(keep_on_server)). Each file is written to a temporary file in O(dest) and renamed when
    complete, so a file of that name is always a complete snapshot. Returns each collection's
    points count and vectors configuration as Qdrant reported them just before the snapshot.
  - With O(state=restored), first checks that every file of O(snapshots) exists and has its
    SHA-256, and fails naming each bad file before changing anything. Then, for each one, copies
    the file into Qdrant's snapshots directory O(snapshots_dir) (Qdrant recovers local files
    only from there), has Qdrant recover the collection from it (replacing the collection, or
    creating it), removes the copy (also when the recovery failed) and reads the collection's
    points count.
  - Any answer other than 2xx fails the task with a message naming the collection, the call, the
    HTTP status and Qdrant's error text. The API key never appears in messages or results.
author:
  - Shield RAG contributors (@shield-rag)
options:
  url:
    description: Qdrant's REST base URL, C(http://) or C(https://).
    type: str
    required: true
  api_key:
    description: Qdrant's API key (the full one; snapshots need write access), sent as C(api-key).
    type: str
  validate_certs:
    description: Check the server certificate of an https O(url).
    type: bool
    default: true
  ca_path:
    description: A PEM file of the CA certificates to check it with (else the system's).
    type: path
  timeout:
    description:
      - Seconds one request may take, or one read of a download. Snapshots are created and
        recovered within one request (C(wait=true)), so this must cover the largest collection.
    type: int
    default: 300
  state:
    description:
      - C(saved) writes snapshot files of collections; C(restored) recovers collections from them.
    type: str
    required: true
    choices: [saved, restored]
  collections:
    description:
      - With O(state=saved), the collections to save; empty saves every collection Qdrant lists.
    type: list
    elements: str
    default: []
  dest:
    description:
      - With O(state=saved), the directory the files C(<collection>.snapshot) are written to;
        created with mode C(0700) when missing. The files get mode C(0600); a file of the same
        name is replaced.
      - Required with O(state=saved).
    type: path
  keep_on_server:
    description:
      - With O(state=saved), keep each snapshot in Qdrant's snapshots directory after it has
        been downloaded (by default it is deleted there).
    type: bool
    default: false
  snapshots:
    description:
      - With O(state=restored), the snapshot files to recover collections from, in order.
      - Required with O(state=restored).
    type: list
    elements: dict
    suboptions:
      collection:
        description: The collection to recover (replaced when it exists, created otherwise).
        type: str
        required: true
      path:
        description: The snapshot file on the host.
        type: path
        required: true
      sha256:
        description: The file's SHA-256 (hex), as O(state=saved) returned it.
        type: str
        required: true
  snapshots_dir:
    description:
      - With O(state=restored), Qdrant's own snapshots directory on this host
        (C(storage.snapshots_path) of its configuration, C(<qdrant data dir>/snapshots)); it must
        exist. Qdrant recovers C(file://) locations inside it only. Each file is copied to
        C(<snapshots_dir>/<collection>/shield-restore-<file name>) for the recovery.
      - Required with O(state=restored).
    type: path
  owner:
    description:
      - With O(state=restored), the user the copies belong to, so that Qdrant can read them.
        Defaults to the owner of O(snapshots_dir).
    type: str
  group:
    description:
      - With O(state=restored), the group of the copies (mode C(0640)). Defaults to the group
        of O(snapshots_dir).
    type: str
notes:
  - Supports check mode. With O(state=saved) it reads the collections and their points counts
    and reports changed, but takes no snapshot and writes no file (the results have no
    C(sha256), C(size) or C(snapshot)). With O(state=restored) it checks the files and their
    SHA-256 and reports changed, but copies nothing and asks Qdrant nothing.
  - Files are read, hashed and written in blocks of 1 MiB; snapshots of any size are fine.
  - Proxy settings of the environment are not used, and redirects are not followed.
  - Only Python's standard library is needed on the host.
"""

EXAMPLES = r"""
- name: Save every collection
  shield.rag.qdrant_snapshots:
    url: http://127.0.0.1:6333
    api_key: "{{ qdrant_api_key }}"
    state: saved
    dest: /var/backups/shield-rag/qdrant
  register: __saved

- name: Restore the documents collection from that file
  shield.rag.qdrant_snapshots:
    url: http://127.0.0.1:6333
    api_key: "{{ qdrant_api_key }}"
    state: restored
    snapshots_dir: /var/lib/qdrant/snapshots
    owner: qdrant
    group: qdrant
    snapshots:
      - collection: documents
        path: "{{ __saved.collections.documents.file }}"
        sha256: "{{ __saved.collections.documents.sha256 }}"
"""

RETURN = r"""
version:
  description: Qdrant's version, as C(GET /) answers it (O(state=saved)).
  returned: when O(state=saved)
  type: str
  sample: 1.19.0
collections:
  description:
    - One entry per collection, by name.
    - With O(state=saved), what was saved. With O(state=restored), each collection after its
      recovery (empty in check mode). On failure, the collections done before it.
  returned: always
  type: dict
  sample:
    documents:
      points_count: 1520
      vectors: {size: 384, distance: Cosine}
      sparse_vectors: null
      file: /var/backups/shield-rag/qdrant/documents.snapshot
      sha256: 9f2c...e1
      size: 73400320
      snapshot: documents-2418830417416378-2026-12-05-23-40-07.snapshot
  contains:
    points_count:
      description: The collection's points count (before the snapshot; after the recovery).
      type: int
    points_count_after:
      description:
        - The collection's points count right after the snapshot was taken. When writes went on
          meanwhile, the snapshot holds a count between RV(collections.points_count) and this.
        - Only with O(state=saved), not in check mode.
      type: int
    vectors:
      description:
        - The collection's dense vectors configuration as Qdrant returns it
          (C(result.config.params.vectors)) - one dict, or a dict of them by vector name.
        - Only with O(state=saved).
      type: raw
    sparse_vectors:
      description:
        - The sparse vectors configuration (C(result.config.params.sparse_vectors)), or null.
        - Only with O(state=saved).
      type: dict
    file:
      description: The snapshot file written (with O(state=saved); in check mode, would be).
      type: str
    path:
      description: The file the collection was recovered from (with O(state=restored)).
      type: str
    sha256:
      description: The file's SHA-256 (hex); not in check mode.
      type: str
    size:
      description: The file's size in bytes (with O(state=saved)); not in check mode.
      type: int
    snapshot:
      description: The snapshot's name on the server (with O(state=saved)); not in check mode.
      type: str
"""

import contextlib
import grp
import os
import pwd
import tempfile
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.shield.rag.plugins.module_utils.qdrant_api import (
    CHUNK,
    Qdrant,
    QdrantCallError,
    quoted,
    sha256_file,
)

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 300},
    "state": {"type": "str", "required": True, "choices": ["saved", "restored"]},
    "collections": {"type": "list", "elements": "str", "default": []},
    "dest": {"type": "path"},
    "keep_on_server": {"type": "bool", "default": False},
    "snapshots": {
        "type": "list",
        "elements": "dict",
        "options": {
            "collection": {"type": "str", "required": True},
            "path": {"type": "path", "required": True},
            "sha256": {"type": "str", "required": True},
        },
    },
    "snapshots_dir": {"type": "path"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
}

REQUIRED_IF = [
    ("state", "saved", ("dest",)),
    ("state", "restored", ("snapshots", "snapshots_dir")),
]

SUFFIX = ".snapshot"
COPY_PREFIX = "shield-restore-"


def _bad_name(name):
    """Why ``name`` cannot be a collection's file name, or an empty string."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return f"{name!r} is not a collection name this module can use as a file name"
    return ""


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class Saver:
    """state=saved: the collections' snapshots downloaded into ``dest``."""

    def __init__(self, module, api):
        self.module = module
        self.api = api
        self.dest = os.path.abspath(module.params["dest"])
        self.results = {}
        self.version = ""
        self.written = False

    def fail(self, msg):
        self.module.fail_json(
            msg=msg, changed=self.written, version=self.version, collections=self.results
        )

    def names(self):
        wanted = self.module.params["collections"]
        if wanted:
            return list(dict.fromkeys(wanted))
        listing = self.api.call("GET", "/collections", "listing the collections")
        return sorted(str(c["name"]) for c in listing.get("collections", []))

    def prepare_dest(self):
        if os.path.isdir(self.dest):
            return
        if os.path.lexists(self.dest):
            self.fail(f"dest {self.dest} exists and is not a directory")
        os.makedirs(self.dest, mode=0o700)
        os.chmod(self.dest, 0o700)  # whatever the umask

    def describe(self, name):
        info = self.api.call("GET", f"/collections/{quoted(name)}", f"collection {name}")
        info = info if isinstance(info, dict) else {}
        params = ((info.get("config") or {}).get("params")) or {}
        return {
            "points_count": info.get("points_count"),
            "vectors": params.get("vectors"),
            "sparse_vectors": params.get("sparse_vectors"),
            "file": os.path.join(self.dest, name + SUFFIX),
        }

    def snapshot(self, name, entry):
        """Create, download (checked), then delete the server's snapshot of ``name``."""
        what = f"collection {name}"
        base = f"/collections/{quoted(name)}/snapshots"
        created = self.api.call("POST", f"{base}?wait=true", what)
        created = created if isinstance(created, dict) else {}
        snap = str(created.get("name") or "")
        if not snap:
            raise QdrantCallError(f"{what}: POST {base}?wait=true answered no snapshot name")
        # Writes may go on while the snapshot is taken: the snapshot holds a count between
        # the one read before it and the one read right after it.
        after = self.api.call("GET", f"/collections/{quoted(name)}", what)
        entry["points_count_after"] = after.get("points_count") if isinstance(after, dict) else None
        checksum = str(created.get("checksum") or "").strip().lower()
        failed = True
        try:
            fd, tmp = tempfile.mkstemp(dir=self.dest, prefix=f".{name}.", suffix=".partial")
            try:
                with os.fdopen(fd, "wb") as handle:
                    digest, size = self.api.download(f"{base}/{quoted(snap)}", handle, what)
                if checksum and digest != checksum:
                    raise QdrantCallError(
                        f"{what}: snapshot {snap} downloaded with SHA-256 {digest}, "
                        f"Qdrant's checksum is {checksum}"
                    )
                if isinstance(created.get("size"), int) and created["size"] != size:
                    raise QdrantCallError(
                        f"{what}: snapshot {snap} downloaded with {size} bytes, "
                        f"Qdrant gave its size as {created['size']}"
                    )
                os.replace(tmp, entry["file"])
                self.written = True
                _fsync_dir(self.dest)
            except BaseException:
                _remove(tmp)
                raise
            entry.update(sha256=digest, size=size, snapshot=snap)
            failed = False
        finally:
            if not self.module.params["keep_on_server"]:
                try:
                    self.api.call("DELETE", f"{base}/{quoted(snap)}?wait=true", what)
                except QdrantCallError:
                    if not failed:
                        raise

    def run(self):
        check = self.module.check_mode
        try:
            root = self.api.call("GET", "/", "Qdrant")
            self.version = str(root.get("version", "")) if isinstance(root, dict) else ""
            names = self.names()
            for name in names:
                if _bad_name(name):
                    self.fail(f"{_bad_name(name)}; nothing was saved")
            if not check:
                self.prepare_dest()
            for name in names:
                entry = self.describe(name)
                if not check:
                    self.snapshot(name, entry)
                self.results[name] = entry
        except QdrantCallError as exc:
            self.fail(str(exc))
        except OSError as exc:
            self.fail(f"{exc.filename or self.dest}: {exc.strerror or exc}")
        self.module.exit_json(changed=True, version=self.version, collections=self.results)


class Restorer:
    """state=restored: collections recovered from checked snapshot files."""

    def __init__(self, module, api):
        self.module = module
        self.api = api
        self.snapshots_dir = os.path.abspath(module.params["snapshots_dir"])
        self.results = {}
        self.asked = False

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, changed=self.asked, collections=self.results, **extra)

    def ids(self):
        """The uid and gid the copies get: owner/group, else those of snapshots_dir."""
        st = os.stat(self.snapshots_dir)
        uid, gid = st.st_uid, st.st_gid
        owner, group = self.module.params["owner"], self.module.params["group"]
        try:
            if owner:
                uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
            if group:
                gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            self.fail(f"unknown user or group: owner {owner!r}, group {group!r}; nothing changed")
        return uid, gid

    def verify(self, entries):
        """Fail, changing nothing, unless every file exists and has its SHA-256."""
        problems, bad = [], []
        seen = set()
        for entry in entries:
            name, path = entry["collection"], entry["path"]
            want = entry["sha256"].strip().lower()
            if _bad_name(name):
                problems.append(_bad_name(name))
                continue
            if name in seen:
                problems.append(f"collection {name} is listed twice")
            seen.add(name)
            if not os.path.isfile(path):
                problems.append(f"{path} (collection {name}): no such file")
                bad.append(path)
                continue
            try:
                got = sha256_file(path)
            except OSError as exc:
                problems.append(f"{path} (collection {name}): cannot read it: {exc.strerror}")
                bad.append(path)
                continue
            if got != want:
                problems.append(f"{path} (collection {name}): SHA-256 is {got}, expected {want}")
                bad.append(path)
        if problems:
            self.fail(
                "Nothing was restored: " + "; ".join(problems),
                bad_files=bad,
            )

    def copy(self, src, dest, uid, gid):
        """``src`` copied to ``dest`` (temporary file, then rename), mode 0640, uid:gid."""
        folder = os.path.dirname(dest)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{COPY_PREFIX}", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as handle:
                for block in iter(lambda: handle.read(CHUNK), b""):
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            st = os.stat(tmp)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(tmp, uid, gid)
            os.chmod(tmp, 0o640)
            os.replace(tmp, dest)
        except BaseException:
            _remove(tmp)
            raise

    def restore(self, entry, uid, gid):
        name, src, checksum = entry["collection"], entry["path"], entry["sha256"].strip().lower()
        what = f"collection {name}"
        folder = os.path.join(self.snapshots_dir, name)
        copy = os.path.join(folder, COPY_PREFIX + os.path.basename(src))
        made = not os.path.isdir(folder)
        try:
            if made:
                os.mkdir(folder, 0o750)
                os.chown(folder, uid, gid)
            self.copy(src, copy, uid, gid)
            body = {
                "location": "file://" + urllib.parse.quote(copy),
                "priority": "snapshot",
                "checksum": checksum,
            }
            self.asked = True
            path = f"/collections/{quoted(name)}/snapshots/recover?wait=true"
            self.api.call("PUT", path, what, body=body)
        finally:
            _remove(copy)
            if made:
                with contextlib.suppress(OSError):  # Qdrant put something there: keep it
                    os.rmdir(folder)
        info = self.api.call("GET", f"/collections/{quoted(name)}", what)
        self.results[name] = {
            "points_count": info.get("points_count") if isinstance(info, dict) else None,
            "path": src,
            "sha256": checksum,
        }

    def run(self):
        entries = self.module.params["snapshots"]
        if not entries:
            self.fail("snapshots is empty: nothing to restore")
        if not os.path.isdir(self.snapshots_dir):
            self.fail(
                f"snapshots_dir {self.snapshots_dir} is not a directory: it must be Qdrant's "
                "storage.snapshots_path on this host; nothing was restored"
            )
        self.verify(entries)
        uid, gid = self.ids()
        if self.module.check_mode:
            self.module.exit_json(changed=True, collections={})
        try:
            # the key and the connection, before the first copy
            self.api.call("GET", "/collections", "listing the collections")
            for entry in entries:
                self.restore(entry, uid, gid)
        except QdrantCallError as exc:
            self.fail(str(exc))
        except OSError as exc:
            self.fail(f"{exc.filename or self.snapshots_dir}: {exc.strerror or exc}")
        self.module.exit_json(changed=True, collections=self.results)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True
    )
    url = module.params["url"]
    if not url.startswith(("http://", "https://")):
        module.fail_json(msg=f"url {url} is not an http or https URL", collections={})
    api = Qdrant(
        url,
        module.params["api_key"],
        module.params["validate_certs"],
        module.params["ca_path"],
        module.params["timeout"],
    )
    if module.params["state"] == "saved":
        Saver(module, api).run()
    else:
        Restorer(module, api).run()


if __name__ == "__main__":
    main()
