"""Qdrant STAND-IN for Shield RAG tests -- this is NOT the real Qdrant server.

No Qdrant server binary can be obtained on the build machines, so tests (and a role test's
"release archive") run this package instead. It speaks the subset of Qdrant's REST API that
qdrant-client uses over HTTP, with the official request/response models from
``qdrant_client.http.models``, and stores data with qdrant-client's local mode engine
(``QdrantClient(path=...)``), which persists to disk. Collection snapshots are served with
Qdrant's paths and answers (create, list, download, delete, recover from a ``file://`` location
in the snapshots directory or a loopback URL, upload); their files are the stand-in's own
format (``snapshots``). gRPC, full-storage and shard snapshots are not served.

It is started like the real binary (``bin/qdrant`` in the source tree, or the ``qdrant`` of a
release archive built by ``release.py``: this package as one executable zip file)::

    qdrant --config-path /etc/qdrant/config.yaml
    qdrant --version

and reads the real ``config.yaml`` keys it understands (``service.host``, ``service.http_port``,
``service.api_key``, ``service.read_only_api_key``, ``service.enable_tls`` + ``tls.cert`` /
``tls.key``, ``storage.storage_path``, ``storage.snapshots_path``, ``log_level``,
``telemetry_disabled``), ignoring the rest, then the ``QDRANT__SECTION__KEY`` environment
overrides. It needs a Python with qdrant-client, fastapi, uvicorn and PyYAML; if the
``python3`` found by the shebang lacks them, it re-executes itself with
``$QDRANT_STANDIN_PYTHON`` when that is set. The version it reports (``GET /``, ``--version``)
follows the installed qdrant-client so that the client's compatibility check passes;
``$QDRANT_STANDIN_VERSION`` or a baked value overrides it.

The package has no imports of its own (its modules import third-party packages only after
``__main__`` has checked the interpreter): ``version`` (name, version, that check), ``config``,
``errors``, ``engine`` (storage), ``checks`` (input checks), ``protocol`` (the REST envelope),
``snapshots`` (snapshot files), ``auth`` (API keys), ``metrics``, ``routes_*`` (the endpoints by
concern), ``app`` (the FastAPI app) and ``server`` (``main``: the process).
"""
