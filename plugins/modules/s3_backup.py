#!/usr/bin/python
# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_backup
short_description: Keep copies of Shield RAG backups in S3-compatible object storage
version_added: "0.3.0"
description:
  - Runs on the controller (C(delegate_to) C(localhost)); the storage credentials never leave it.
    The backup host moves the bytes itself, with plain HTTP C(PUT) and C(GET) requests to
    presigned URLs this module signs (AWS Signature Version 4), each valid for O(expires)
    seconds and for one object only.
  - A backup C(<id>) is stored as the objects C(<prefix>/<id>/<file>), one per file of the
    backup directory (C(manifest.json) included). Its C(manifest.json) is uploaded last, so a
    backup whose C(manifest.json) object is missing is incomplete, as on the backup host.
  - O(state=check) checks that the bucket answers with these credentials (before a backup
    changes anything).
  - O(state=presign_put) signs one C(PUT) per file in O(files), each bound to the file's size and
    (with O(checksum)) its SHA-256, which the storage checks against the bytes it receives.
  - O(state=complete) checks that every file in O(files) is stored with its size (and its
    SHA-256 when the storage reports one), then keeps the newest O(keep) complete backups under
    the prefix and removes older ones and older incomplete ones.
  - O(state=presign_get) finds a complete backup (O(backup_id), or C(latest)), reads its
    manifest and signs one C(GET) per object (restore).
author:
  - Shield RAG contributors (@shield-rag)
requirements:
  - botocore (on the controller)
options:
  state:
    description: What to do; see the description.
    type: str
    required: true
    choices: [check, presign_put, complete, presign_get]
  bucket:
    description: The bucket's name.
    type: str
    required: true
  prefix:
    description: Key prefix of the backups' objects (no leading or trailing C(/)).
    type: str
    default: shield-rag
  endpoint_url:
    description: The storage's URL (MinIO, Ceph RGW, ...). Empty for Amazon S3 in O(region).
    type: str
    default: ""
  region:
    description: The region signatures are made for.
    type: str
    default: us-east-1
  addressing_style:
    description:
      - C(path) (C(<endpoint>/<bucket>/<key>)), C(virtual) (C(<bucket>.<endpoint>/<key>)) or
        C(auto).
    type: str
    default: auto
    choices: [auto, path, virtual]
  access_key:
    description:
      - Access key id. Empty for botocore's own chain (C(AWS_*) variables, C(~/.aws), an instance
        role).
    type: str
    default: ""
  secret_key:
    description: Secret access key (with O(access_key)).
    type: str
    default: ""
  session_token:
    description: Session token of temporary credentials.
    type: str
    default: ""
  validate_certs:
    description: Check the storage's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle on the controller to check the storage's certificate against.
    type: path
  backup_id:
    description:
      - The backup's id (C(YYYYMMDDTHHMMSSZ)); O(state=presign_get) also takes C(latest).
    type: str
    default: ""
  files:
    description: The backup's files (O(state=presign_put), O(state=complete)), in upload order.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Path below the backup directory, e.g. C(qdrant/docs.snapshot).
        type: str
        required: true
      size:
        description: Size in bytes.
        type: int
        required: true
      sha256:
        description: SHA-256, hexadecimal.
        type: str
        required: true
  checksum:
    description: Bind each C(PUT) to its file's SHA-256 (header C(x-amz-checksum-sha256)).
    type: bool
    default: true
  expires:
    description: Seconds each presigned URL stays valid.
    type: int
    default: 3600
  keep:
    description: Complete backups kept under the prefix (O(state=complete)); C(0) removes nothing.
    type: int
    default: 0
notes:
  - Supports check mode; O(state=complete) then reports what it would remove.
  - One C(PUT) carries at most 5 GiB (the S3 limit of a single-part upload); a larger file is
    refused before any upload.
"""

EXAMPLES = r"""
- name: Sign the uploads of a backup
  shield.rag.s3_backup:
    state: presign_put
    bucket: shield-backups
    endpoint_url: https://minio.example.org:9000
    backup_id: 20261205T231500Z
    files:
      - name: redis/dump.rdb
        size: 88213
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  delegate_to: localhost
  no_log: true
  register: __uploads
"""

RETURN = r"""
transfers:
  description: One signed request per object (presign states), in O(files) order.
  returned: when state is presign_put or presign_get
  type: list
  elements: dict
  contains:
    name: {description: The file's path below the backup directory., type: str}
    url: {description: The presigned URL (a secret until it expires)., type: str}
    headers: {description: Headers the request must send as signed., type: dict}
    size: {description: The object's size in bytes., type: int}
backup_id:
  description: The backup the transfers belong to (C(latest) resolved).
  returned: when state is presign_get
  type: str
manifest:
  description: The backup's manifest, as stored.
  returned: when state is presign_get
  type: dict
stored:
  description: Objects of the backup found in the storage, by name, with their sizes.
  returned: when state is complete
  type: dict
removed:
  description: Backups (ids) removed (in check mode, that would be) beyond O(keep).
  returned: when state is complete
  type: list
  elements: str
"""

import base64
import binascii
import json
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    HAS_BOTOCORE = True
except ImportError:  # reported by main()
    HAS_BOTOCORE = False

SINGLE_PUT_LIMIT = 5 * 1024**3
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def _client(params):
    session = botocore.session.get_session()
    verify = (
        params["ca_path"]
        if params["validate_certs"] and params["ca_path"]
        else params["validate_certs"]
    )
    return session.create_client(
        "s3",
        region_name=params["region"],
        endpoint_url=params["endpoint_url"] or None,
        aws_access_key_id=params["access_key"] or None,
        aws_secret_access_key=params["secret_key"] or None,
        aws_session_token=params["session_token"] or None,
        verify=verify,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": params["addressing_style"]},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def _where(params):
    return "bucket {} at {}".format(
        params["bucket"], params["endpoint_url"] or "Amazon S3 (" + params["region"] + ")"
    )


def _check_files(module, files):
    for item in files:
        if not _NAME.match(item["name"]) or ".." in item["name"].split("/"):
            module.fail_json(
                msg="Refusing the file name {!r}: not a relative path.".format(item["name"])
            )
        if item["size"] > SINGLE_PUT_LIMIT:
            module.fail_json(
                msg=(
                    "{} is {} bytes: one upload carries at most 5 GiB (S3's single-part limit). "
                    "Keep this backup on the backup host only (backup_s3_bucket empty) or split "
                    "the collection."
                ).format(item["name"], item["size"])
            )
        try:
            if len(binascii.unhexlify(item["sha256"])) != 32:
                raise ValueError
        except (binascii.Error, ValueError):
            module.fail_json(msg="{}: sha256 is not a SHA-256 digest.".format(item["name"]))


def _dir(params, backup_id):
    """The key prefix of a backup's objects, with its trailing slash."""
    return "/".join(part for part in (params["prefix"], backup_id) if part) + "/"


def _key(params, backup_id, name):
    return _dir(params, backup_id) + name


def _presign_put(client, params, files):
    transfers = []
    for item in files:
        request = {
            "Bucket": params["bucket"],
            "Key": _key(params, params["backup_id"], item["name"]),
            "ContentLength": item["size"],
            "ContentType": "application/octet-stream",
        }
        headers = {"Content-Type": "application/octet-stream"}
        if params["checksum"]:
            digest = base64.b64encode(binascii.unhexlify(item["sha256"])).decode("ascii")
            request["ChecksumSHA256"] = digest
            headers["x-amz-checksum-sha256"] = digest
        url = client.generate_presigned_url(
            "put_object", Params=request, ExpiresIn=params["expires"]
        )
        transfers.append(
            {"name": item["name"], "url": url, "headers": headers, "size": item["size"]}
        )
    return transfers


def _list(client, params, prefix, delimiter=None):
    """Every key (or common prefix, with a delimiter) under prefix, with sizes."""
    paginator = client.get_paginator("list_objects_v2")
    arguments = {"Bucket": params["bucket"], "Prefix": prefix}
    if delimiter:
        arguments["Delimiter"] = delimiter
    objects, prefixes = {}, []
    for page in paginator.paginate(**arguments):
        for item in page.get("Contents", []):
            objects[item["Key"]] = item["Size"]
        prefixes.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    return objects, prefixes


def _backups(client, params):
    """(complete ids, incomplete ids) under the prefix, newest first."""
    base = params["prefix"] + "/" if params["prefix"] else ""
    _unused, prefixes = _list(client, params, base, delimiter="/")
    ids = sorted(
        (p[len(base) :].rstrip("/") for p in prefixes if _ID.match(p[len(base) :].rstrip("/"))),
        reverse=True,
    )
    complete, incomplete = [], []
    for backup_id in ids:
        objects, _unused = _list(client, params, _key(params, backup_id, "manifest.json"))
        (complete if _key(params, backup_id, "manifest.json") in objects else incomplete).append(
            backup_id
        )
    return complete, incomplete


def _remove(client, params, backup_id):
    objects, _unused = _list(client, params, _dir(params, backup_id))
    keys = sorted(objects)
    # manifest.json first: a backup half removed is incomplete, never taken for a whole one.
    keys.sort(key=lambda key: not key.endswith("/manifest.json"))
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        answer = client.delete_objects(
            Bucket=params["bucket"], Delete={"Objects": batch, "Quiet": True}
        )
        if answer.get("Errors"):
            raise RuntimeError(
                "could not remove {}: {}".format(
                    backup_id, answer["Errors"][0].get("Message", answer["Errors"][0])
                )
            )


def _complete(module, client, params, files):
    objects, _unused = _list(client, params, _dir(params, params["backup_id"]))
    base = _dir(params, params["backup_id"])
    stored = {key[len(base) :]: size for key, size in objects.items()}
    problems = []
    for item in files:
        if item["name"] not in stored:
            problems.append("{}: not stored".format(item["name"]))
        elif stored[item["name"]] != item["size"]:
            problems.append(
                "{}: {} bytes stored, {} expected".format(
                    item["name"], stored[item["name"]], item["size"]
                )
            )
        elif params["checksum"]:
            head = client.head_object(
                Bucket=params["bucket"],
                Key=_key(params, params["backup_id"], item["name"]),
                ChecksumMode="ENABLED",
            )
            reported = head.get("ChecksumSHA256")
            expected = base64.b64encode(binascii.unhexlify(item["sha256"])).decode("ascii")
            if reported and reported != expected:
                problems.append("{}: stored SHA-256 differs from the backup's".format(item["name"]))
    if problems:
        module.fail_json(
            msg="Backup {} in {} is not complete: {}.".format(
                params["backup_id"], _where(params), "; ".join(problems)
            )
        )
    removed = []
    if params["keep"] > 0:
        complete, incomplete = _backups(client, params)
        removed = complete[params["keep"] :] + [i for i in incomplete if i < params["backup_id"]]
        if not module.check_mode:
            for backup_id in removed:
                _remove(client, params, backup_id)
    return {"stored": stored, "removed": removed, "changed": bool(removed)}


def _presign_get(module, client, params):
    complete, _unused = _backups(client, params)
    wanted = params["backup_id"] or "latest"
    if wanted == "latest":
        if not complete:
            module.fail_json(
                msg="No complete backup under {}/ in {}.".format(params["prefix"], _where(params))
            )
        wanted = complete[0]
    elif wanted not in complete:
        module.fail_json(
            msg="No complete backup {} under {}/ in {} (complete ones: {}).".format(
                wanted, params["prefix"], _where(params), ", ".join(complete) or "none"
            )
        )
    body = client.get_object(Bucket=params["bucket"], Key=_key(params, wanted, "manifest.json"))[
        "Body"
    ].read()
    try:
        manifest = json.loads(body)
    except ValueError:
        module.fail_json(msg=f"The manifest of backup {wanted} in {_where(params)} is not JSON.")
    base = _dir(params, wanted)
    objects, _unused = _list(client, params, base)
    transfers = []
    for key in sorted(objects, key=lambda key: key.endswith("/manifest.json")):
        name = key[len(base) :]
        if not _NAME.match(name) or ".." in name.split("/"):
            module.fail_json(
                msg=f"Backup {wanted} holds the object {key!r}, which is not a backup file."
            )
        url = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": params["bucket"], "Key": key},
            ExpiresIn=params["expires"],
        )
        transfers.append({"name": name, "url": url, "headers": {}, "size": objects[key]})
    return {"backup_id": wanted, "manifest": manifest, "transfers": transfers, "changed": False}


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {
                "type": "str",
                "required": True,
                "choices": ["check", "presign_put", "complete", "presign_get"],
            },
            "bucket": {"type": "str", "required": True},
            "prefix": {"type": "str", "default": "shield-rag"},
            "endpoint_url": {"type": "str", "default": ""},
            "region": {"type": "str", "default": "us-east-1"},
            "addressing_style": {
                "type": "str",
                "default": "auto",
                "choices": ["auto", "path", "virtual"],
            },
            "access_key": {"type": "str", "default": "", "no_log": True},
            "secret_key": {"type": "str", "default": "", "no_log": True},
            "session_token": {"type": "str", "default": "", "no_log": True},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
            "backup_id": {"type": "str", "default": ""},
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "size": {"type": "int", "required": True},
                    "sha256": {"type": "str", "required": True},
                },
            },
            "checksum": {"type": "bool", "default": True},
            "expires": {"type": "int", "default": 3600},
            "keep": {"type": "int", "default": 0},
        },
        required_together=[["access_key", "secret_key"]],
        supports_check_mode=True,
    )
    if not HAS_BOTOCORE:
        module.fail_json(
            msg=missing_required_lib("botocore (on the controller, for backup_s3_bucket)")
        )
    params = module.params
    params["prefix"] = params["prefix"].strip("/")
    if not 1 <= params["expires"] <= 604800:
        module.fail_json(
            msg="expires is {}: give 1 to 604800 seconds (7 days, SigV4's limit).".format(
                params["expires"]
            )
        )
    if params["state"] in ("presign_put", "complete") and not _ID.match(params["backup_id"]):
        module.fail_json(
            msg="backup_id {!r} is not a backup id such as 20261205T231500Z.".format(
                params["backup_id"]
            )
        )
    files = params["files"]
    _check_files(module, files)
    client = _client(params)
    try:
        if params["state"] == "check":
            client.head_bucket(Bucket=params["bucket"])
            result = {"changed": False}
        elif params["state"] == "presign_put":
            result = {"changed": False, "transfers": _presign_put(client, params, files)}
        elif params["state"] == "complete":
            result = _complete(module, client, params, files)
        else:
            result = _presign_get(module, client, params)
    except ClientError as err:
        error = err.response.get("Error", {})
        module.fail_json(
            msg="{} answered {} {}: {}".format(
                _where(params),
                err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"),
                error.get("Code", ""),
                error.get("Message", "")
                or "check the bucket's name, the credentials and their permissions",
            )
        )
    except NoCredentialsError:
        module.fail_json(
            msg=f"No credentials for {_where(params)}: set backup_s3_access_key and "
            "backup_s3_secret_key (vault), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
            "on the controller."
        )
    except (BotoCoreError, RuntimeError) as err:
        module.fail_json(msg=f"{_where(params)}: {err}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
