"""The backup role's copy of backups in S3-compatible storage (roles/backup/tasks/s3_*.yml and
module shield.rag.s3_backup), run for real by ansible-playbook on localhost against moto's S3
server on 127.0.0.1 (the S3 stand-in; SHIELD_S3_ENDPOINT_URL, SHIELD_S3_BUCKET and the usual
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY point the tests at a real store instead).

Upload: every file of the backup arrives byte for byte under <prefix>/<id>/, manifest.json last,
and backup_s3_keep complete copies stay (older ones and older incomplete ones go). A refused
upload names the file and the storage's error code, never a presigned URL. Restore: a backup
is found in the bucket (latest or by id), downloaded into backup_dir and checked; a corrupted
object is refused, naming the file, with no partial download left; check mode downloads nothing.
Neither the secret key nor a signature ever reaches the output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.modules import Modules

botocore_session = pytest.importorskip("botocore.session")
botocore_config = pytest.importorskip("botocore.config")

ACCESS_KEY = "AKIASHIELDBACKUPTEST"
SECRET_KEY = "Sh13ld-Backup-S3-Secret-7Qw9Zr2Lm4Xc"

UPLOAD = """\
- name: Upload a backup
  hosts: all
  gather_facts: false
  tasks:
    - name: Name the run
      ansible.builtin.set_fact:
        __backup_id: "{{ backup_id }}"

    - name: Copy it to the bucket
      ansible.builtin.include_role:
        name: shield.rag.backup
        tasks_from: s3_upload
      vars:
        __backup_final: "{{ backup_dir }}/{{ backup_id }}"
"""

RESTORE = """\
- name: Take a backup from the bucket
  hosts: all
  gather_facts: false
  tasks:
    - name: Check the bucket
      ansible.builtin.include_role:
        name: shield.rag.backup
        tasks_from: s3_check

    - name: Download it
      ansible.builtin.include_role:
        name: shield.rag.backup
        tasks_from: s3_download

    - name: Read and check it
      ansible.builtin.include_role:
        name: shield.rag.backup
        tasks_from: restore_read

    - name: Report it
      ansible.builtin.debug:
        msg: "RESTORE {{ {'dir': __restore_dir, 'id': __restore_manifest.id} | to_json }}"
"""


class Store:
    """The bucket the tests use: moto's S3 server on 127.0.0.1, or a real store."""

    def __init__(self, endpoint: str, bucket: str, access: str, secret: str) -> None:
        self.endpoint, self.bucket = endpoint, bucket
        self.access, self.secret = access, secret
        self.client = botocore_session.get_session().create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            config=botocore_config.Config(
                signature_version="s3v4", s3={"addressing_style": "path"}
            ),
        )

    def keys(self, prefix: str) -> dict[str, bytes]:
        answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix + "/")
        return {
            item["Key"][len(prefix) + 1 :]: self.client.get_object(
                Bucket=self.bucket, Key=item["Key"]
            )["Body"].read()
            for item in answer.get("Contents", [])
        }

    def settings(self, prefix: str, **extra: object) -> dict[str, object]:
        return {
            "backup_s3_bucket": self.bucket,
            "backup_s3_prefix": prefix,
            "backup_s3_endpoint_url": self.endpoint,
            "backup_s3_addressing_style": "path",
            "backup_s3_access_key": self.access,
            "backup_s3_secret_key": self.secret,
            **extra,
        }


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    endpoint = os.environ.get("SHIELD_S3_ENDPOINT_URL")
    if endpoint:
        yield Store(
            endpoint,
            os.environ["SHIELD_S3_BUCKET"],
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
        )
        return
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        bucket = Store(f"http://{host}:{port}", "shield-backups", ACCESS_KEY, SECRET_KEY)
        bucket.client.create_bucket(Bucket=bucket.bucket)
        yield bucket
    finally:
        server.stop()


def make_backup(backup_dir: Path, backup_id: str) -> tuple[list[dict[str, object]], dict]:
    """A backup directory as store.yml leaves it (files, SHA256SUMS, manifest.json): its parts
    (as store.yml knows them) and its manifest."""
    root = backup_dir / backup_id
    contents = {
        "qdrant/shield_docs.snapshot": secrets.token_bytes(300_000),
        "lightrag/working_dir.tar.gz": secrets.token_bytes(40_000),
        "redis/dump.rdb": secrets.token_bytes(9_000),
        "settings/shield-1.tar.gz": secrets.token_bytes(2_000),
    }
    parts = []
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        parts.append({"name": name, "sha256": digest, "size": len(data), "host": "localhost"})
    (root / "SHA256SUMS").write_text(
        "".join(f"{p['sha256']}  {p['name']}\n" for p in parts), encoding="utf-8"
    )
    manifest = {
        "format": 1,
        "id": backup_id,
        "files": [{k: p[k] for k in ("name", "sha256", "size")} for p in parts],
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return parts, manifest


def local_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def assert_no_secret(output: str) -> None:
    assert SECRET_KEY not in output
    assert "X-Amz-Signature" not in output
    assert "X-Amz-Credential" not in output


def upload(
    modules: Modules, store: Store, backup_dir: Path, backup_id: str, prefix: str, **extra: object
) -> tuple[int, str]:
    parts, _unused = make_backup(backup_dir, backup_id)
    host_vars = {
        "backup_dir": str(backup_dir),
        "backup_id": backup_id,
        "__backup_parts": parts,
        **store.settings(prefix, **extra),
    }
    return modules.playbook(UPLOAD, host_vars)


def test_every_file_arrives_whole_manifest_last_and_the_newest_copies_stay(
    store: Store, tmp_path: Path
) -> None:
    modules = Modules(tmp_path / "work")
    backups = tmp_path / "backups"
    prefix = "keep-" + secrets.token_hex(4)
    # An older copy whose upload never completed (no manifest.json).
    store.client.put_object(
        Bucket=store.bucket, Key=f"{prefix}/20261201T000000Z/redis/dump.rdb", Body=b"half"
    )
    ids = ["20261202T010000Z", "20261203T010000Z", "20261204T010000Z"]
    for backup_id in ids:
        rc, output = upload(modules, store, backups, backup_id, prefix, backup_s3_keep=2)
        assert rc == 0, output
        assert_no_secret(output)

    stored = store.keys(prefix)
    assert sorted({key.split("/")[0] for key in stored}) == ids[1:]
    for backup_id in ids[1:]:
        mine = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith(backup_id)}
        assert mine == local_files(backups / backup_id)
    listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"{prefix}/{ids[-1]}/")
    times = {item["Key"].rsplit("/", 1)[-1]: item["LastModified"] for item in listing["Contents"]}
    assert times["manifest.json"] == max(times.values())


def test_a_refused_upload_names_the_files_and_the_error_not_the_url(
    store: Store, tmp_path: Path
) -> None:
    modules = Modules(tmp_path / "work")
    missing = Store(store.endpoint, "shield-no-such-bucket", store.access, store.secret)
    rc, output = upload(modules, missing, tmp_path / "backups", "20261205T010000Z", "refused")
    assert rc != 0, output
    assert "but its copy to bucket shield-no-such-bucket failed" in output, output
    assert re.search(r"qdrant/shield_docs\.snapshot: HTTP 404\s+NoSuchBucket", output), output
    assert_no_secret(output)


def test_an_oversized_file_is_refused_before_any_upload(store: Store, tmp_path: Path) -> None:
    modules = Modules(tmp_path / "work")
    backups = tmp_path / "backups"
    parts, _unused = make_backup(backups, "20261205T020000Z")
    parts[0] = {**parts[0], "size": 6 * 1024**3}
    prefix = "oversized-" + secrets.token_hex(4)
    host_vars = {
        "backup_dir": str(backups),
        "backup_id": "20261205T020000Z",
        "__backup_parts": parts,
        **store.settings(prefix),
    }
    rc, output = modules.playbook(UPLOAD, host_vars)
    assert rc != 0, output
    assert "one upload carries at most 5 GiB" in output, output
    assert store.keys(prefix) == {}


def restore(
    modules: Modules, store: Store, backup_dir: Path, prefix: str, *, check: bool = False, **extra
) -> tuple[int, str]:
    host_vars = {"backup_dir": str(backup_dir), **store.settings(prefix, **extra)}
    return modules.playbook(RESTORE, host_vars, check=check)


def restored(output: str) -> dict[str, str]:
    found = re.search(r'"RESTORE (\{.*?\})"', output)
    assert found, output
    return dict(json.loads(found[1].replace('\\"', '"')))


def test_the_latest_backup_is_downloaded_checked_and_read(store: Store, tmp_path: Path) -> None:
    modules = Modules(tmp_path / "work")
    prefix = "restore-" + secrets.token_hex(4)
    source = tmp_path / "source"
    for backup_id in ("20261205T030000Z", "20261205T040000Z"):
        rc, output = upload(modules, store, source, backup_id, prefix)
        assert rc == 0, output

    target = tmp_path / "new-backup-host"
    rc, output = restore(modules, store, target, prefix, backup_restore_id="latest")
    assert rc == 0, output
    assert_no_secret(output)
    assert restored(output) == {
        "dir": str(target / "20261205T040000Z"),
        "id": "20261205T040000Z",
    }
    assert local_files(target / "20261205T040000Z") == local_files(source / "20261205T040000Z")
    assert not (target / "20261205T040000Z.partial").exists()

    # By id; the copy already on this host is read, not downloaded again.
    rc, output = restore(modules, store, target, prefix, backup_restore_id="20261205T030000Z")
    assert rc == 0, output
    assert restored(output)["id"] == "20261205T030000Z"
    rc, output = restore(modules, store, target, prefix, backup_restore_id="20261205T030000Z")
    assert rc == 0, output
    assert re.search(r"TASK \[shield\.rag\.backup : Download every file\].*?skipping", output, re.S)


def test_a_corrupted_object_is_refused_and_no_partial_download_stays(
    store: Store, tmp_path: Path
) -> None:
    modules = Modules(tmp_path / "work")
    prefix = "corrupt-" + secrets.token_hex(4)
    rc, output = upload(modules, store, tmp_path / "source", "20261205T050000Z", prefix)
    assert rc == 0, output
    key = f"{prefix}/20261205T050000Z/redis/dump.rdb"
    original = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
    store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(reversed(original)))

    target = tmp_path / "target"
    rc, output = restore(modules, store, target, prefix)
    assert rc != 0, output
    assert "could not be downloaded from bucket shield-backups, nothing was" in output, output
    assert re.search(r"redis/dump\.rdb:\s+The checksum for \S+ did not match", output), output
    assert_no_secret(output)
    assert sorted(p.name for p in target.iterdir()) == []


def test_check_mode_checks_the_manifest_from_the_bucket_and_downloads_nothing(
    store: Store, tmp_path: Path
) -> None:
    modules = Modules(tmp_path / "work")
    prefix = "check-" + secrets.token_hex(4)
    rc, output = upload(modules, store, tmp_path / "source", "20261205T060000Z", prefix)
    assert rc == 0, output
    target = tmp_path / "target"
    target.mkdir()
    rc, output = restore(modules, store, target, prefix, check=True)
    assert rc == 0, output
    assert restored(output)["id"] == "20261205T060000Z"
    assert list(target.iterdir()) == []


def test_a_missing_bucket_is_named_before_anything_changes(store: Store, tmp_path: Path) -> None:
    modules = Modules(tmp_path / "work")
    missing = Store(store.endpoint, "shield-nope", store.access, store.secret)
    rc, output = restore(modules, missing, tmp_path / "target", "any")
    assert rc != 0, output
    assert f"bucket shield-nope at {store.endpoint} answered 404" in output, output
    assert not (tmp_path / "target").exists()
    assert_no_secret(output)
