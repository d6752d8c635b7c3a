"""The stand-in's own process: version, health, startup line, restart over the same storage,
one instance per storage, config file and environment, the release archive.

The tests about the process itself are skipped when ``SHIELD_TEST_QDRANT_URL`` names a real
Qdrant."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.common.version_check import is_compatible

from tests.standins.qdrant.launch import QDRANT_BIN, QdrantServer, standin_env, start_qdrant
from tests.standins.qdrant.qdrant_standin.config import load_settings
from tests.standins.qdrant.qdrant_standin.version import standin_version
from tests.standins.qdrant.release import build_release_archive
from tests.standins.test_qdrant.helpers import (
    MARKS,
    create_collection,
    http_ready,
    make_points,
    standin_only,
)
from tests.support.tokens import secret

pytestmark = MARKS


@standin_only
def test_version_flag_prints_a_qdrant_version_line() -> None:
    done = subprocess.run(
        [str(QDRANT_BIN), "--version"],
        env={**os.environ, **standin_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"qdrant {standin_version()}"
    assert "stand-in" in done.stderr


def test_root_reports_a_version_the_client_accepts(qdrant: QdrantServer) -> None:
    info = httpx.get(f"{qdrant.url}/", timeout=5).json()
    assert info["title"] == "qdrant - vector search engine"
    from importlib.metadata import version

    assert is_compatible(version("qdrant-client"), info["version"])


def test_health_endpoints_answer_without_a_key(qdrant: QdrantServer) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{qdrant.url}{path}", timeout=5).status_code == 200, path


@standin_only
def test_startup_line_names_the_standin(qdrant: QdrantServer) -> None:
    assert qdrant.process is not None
    log = qdrant.process.log_path.read_text()
    assert "Qdrant stand-in" in log
    assert "NOT the real Qdrant server" in log


@standin_only
def test_data_survives_a_restart(tmp_path: Path) -> None:
    key = secret(16)
    name = "survivor"
    points = make_points(5, seed=21)
    with start_qdrant(tmp_path, api_key=key, name="qdrant-restart") as server:
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        create_collection(c, name)
        c.create_payload_index(name, "tenant", field_schema=models.PayloadSchemaType.KEYWORD)
        c.upsert(name, points=points, wait=True)
        c.close()
        assert server.process is not None
        first_pid = server.process.pid
        assert server.stop() == 0
        assert "storage closed" in server.process.log_tail()

        server.start()
        assert server.process.pid != first_pid
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        assert c.count(name).count == 5
        (got,) = c.retrieve(name, ids=[points[2].id], with_vectors=True)
        assert got.payload == points[2].payload
        assert np.allclose(got.vector, points[2].vector, atol=1e-5)
        assert "tenant" in c.get_collection(name).payload_schema
        assert c.query_points(name, query=points[4].vector, limit=1).points[0].id == points[4].id
        c.close()


@standin_only
def test_second_instance_on_the_same_storage_refuses_to_start(tmp_path: Path) -> None:
    with start_qdrant(tmp_path, name="qdrant-lock") as server:
        assert server.config_path is not None
        clash = subprocess.run(
            [str(QDRANT_BIN), "--config-path", str(server.config_path)],
            env={**os.environ, **standin_env(), "QDRANT__SERVICE__HTTP_PORT": "0"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert clash.returncode != 0
        assert "already accessed" in clash.stderr
        assert http_ready(server)


def test_config_file_and_env_overrides(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "log_level: DEBUG\n"
        "storage:\n  storage_path: /data/storage\n  snapshots_path: /data/snapshots\n"
        "  optimizers: {default_segment_number: 2}\n"
        "service:\n  host: 127.0.0.1\n  http_port: 7000\n  api_key: from-file\n"
        "  max_request_size_mb: 32\n"
        "cluster: {enabled: false, p2p: {port: 6335}}\n"
        "telemetry_disabled: true\n"
    )
    s = load_settings(str(config), environ={})
    assert (s.host, s.http_port, s.api_key, s.read_only_api_key) == (
        "127.0.0.1",
        7000,
        "from-file",
        None,
    )
    assert s.storage_path == Path("/data/storage")
    assert s.snapshots_path == Path("/data/snapshots")
    assert (s.log_level, s.telemetry_disabled) == ("DEBUG", True)
    env = {
        "QDRANT__SERVICE__HTTP_PORT": "7100",
        "QDRANT__SERVICE__API_KEY": "12345",
        "QDRANT__SERVICE__READ_ONLY_API_KEY": "ro-key",
        "QDRANT__STORAGE__STORAGE_PATH": "/elsewhere",
        "QDRANT__LOG_LEVEL": "WARN",
    }
    s = load_settings(str(config), environ=env)
    assert (s.http_port, s.api_key, s.read_only_api_key) == (7100, "12345", "ro-key")
    assert s.storage_path == Path("/elsewhere")
    assert s.log_level == "WARN"
    defaults = load_settings(None, environ={})
    assert (defaults.http_port, defaults.api_key) == (6333, None)


@standin_only
def test_release_archive_runs_the_standin_copied_alone(tmp_path: Path) -> None:
    archive = build_release_archive(tmp_path / "dist", version="1.20.3")
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["qdrant"]
        assert tar.getmember("qdrant").mode == 0o755
        tar.extractall(tmp_path / "opt", filter="data")
    binary = tmp_path / "opt" / "qdrant"
    done = subprocess.run(
        [str(binary), "--version"],
        env={**os.environ, **standin_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "qdrant 1.20.3"
    with start_qdrant(tmp_path, binary=binary, name="qdrant-archive") as server:
        assert httpx.get(f"{server.url}/", timeout=5).json()["version"] == "1.20.3"
