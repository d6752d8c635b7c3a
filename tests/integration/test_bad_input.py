"""Every bad input gets a 4xx whose message says what to change; nothing stored is harmed."""

from __future__ import annotations

import pytest

from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

# Nothing but control characters and whitespace: as blank as spaces.
CONTROL = "\x00\x07\x1b \x7f\x85\ufeff"
# (method, path, json body, expected status, words the message must contain)
JSON_CASES = [
    ("POST", "/ingest-async", {"text": "no type"}, 422, ["type"]),
    ("POST", "/ingest-async", {"type": "pdf", "text": "x"}, 422, ["type"]),
    ("POST", "/ingest-async", {"type": "text", "text": "   "}, 422, ["text", "blank"]),
    ("POST", "/ingest-async", {"type": "text", "text": CONTROL}, 422, ["text", "blank"]),
    (
        "POST",
        "/ingest-async",
        {"type": "text", "text": "x", "colour": "red"},
        422,
        ["colour", "unknown"],
    ),
    (
        "POST",
        "/ingest-async",
        {"type": "text", "text": "x", "metadata": {"bad key!": 1}},
        422,
        ["metadata"],
    ),
    ("POST", "/ingest-async", {"type": "url"}, 422, ["url", "required"]),
    ("POST", "/ingest-async", {"type": "url", "url": "ftp://example.org/"}, 422, ["http"]),
    ("POST", "/ingest-async", {"type": "url", "url": "not a url"}, 422, ["url"]),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "http://169.254.169.254/latest"},
        422,
        ["169.254.169.254"],
    ),
    ("POST", "/ingest-async", {"type": "url", "url": "http://10.0.0.7/"}, 422, ["10.0.0.7"]),
    ("POST", "/ingest-async", {"type": "url", "url": "http://2130706433/"}, 422, ["2130706433"]),
    ("POST", "/ingest-async", {"type": "url", "url": "http://0x7f.0.0.1/"}, 422, ["0x7f"]),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "http://[::ffff:10.0.0.1]/"},
        422,
        ["10.0.0.1"],
    ),
    ("POST", "/ingest-async", {"type": "url", "url": "http://user:pw@example.org/"}, 422, ["url"]),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "https://example.org/", "max_pages": 0},
        422,
        ["max_pages"],
    ),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "https://example.org/", "max_pages": 99999},
        422,
        ["max_pages", "max_pages_limit"],
    ),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "https://example.org/", "max_depth": 99},
        422,
        ["max_depth"],
    ),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "http://127.0.0.1:9/", "allowed_domains": ["example.org"]},
        422,
        ["allowed_domains", "outside"],
    ),
    (
        "POST",
        "/ingest-async",
        {"type": "url", "url": "http://127.0.0.1:9/", "allowed_domains": ["exa mple.org"]},
        422,
        ["allowed_domains", "pattern"],
    ),
    ("POST", "/search", {"query": ""}, 422, ["query"]),
    ("POST", "/search", {"query": "x", "limit": 0}, 422, ["limit"]),
    ("POST", "/search", {"query": "x", "limit": 5000}, 422, ["limit", "offset"]),
    ("POST", "/search", {"query": "x", "offset": -1}, 422, ["offset"]),
    (
        "POST",
        "/search",
        {"query": "x", "filters": {"chunk_index": {"between": 1}}},
        422,
        ["chunk_index", "gte"],
    ),
    ("POST", "/search", {"query": "x", "filters": {"doc_id": []}}, 422, ["doc_id"]),
    ("POST", "/search", {"query": "x", "sort": "asc"}, 422, ["sort", "unknown"]),
    (
        "POST",
        "/search",
        {"query": "x", "filters": {"metadata.flag": [True]}},
        422,
        ["filters.metadata.flag"],
    ),
    (
        "POST",
        "/search",
        {"query": "x", "filters": {"$gt": 1}},
        422,
        ["filters.$gt", "not a field of the stored chunks", "metadata.<key>"],
    ),
    ("POST", "/vectors", {}, 422, ["text", "items"]),
    ("POST", "/vectors", {"text": "a", "items": [{"text": "b"}]}, 422, ["either"]),
    ("POST", "/vectors", {"items": []}, 422, ["items"]),
    ("POST", "/vectors", {"items": [{"text": "  "}]}, 422, ["items", "blank"]),
    ("POST", "/vectors", {"text": CONTROL}, 422, ["text", "blank"]),
    ("POST", "/vectors", {"text": "x", "source": " \t"}, 422, ["source", "blank"]),
    ("POST", "/vectors", {"items": [{"text": "x", "source": ""}]}, 422, ["source", "blank"]),
    ("POST", "/ingest-async", {"type": "text", "text": "x", "title": CONTROL}, 422, ["title"]),
    ("POST", "/ingest-async", {"type": "text", "text": "x", "source": ""}, 422, ["source"]),
    (
        "POST",
        "/search",
        {"query": "x", "filters": {f"metadata.k{i}": i for i in range(74)}},
        422,
        ["filters", "at most 73"],
    ),
    ("POST", "/search", {"query": "x", "filters": {"source": "s" * 4097}}, 422, ["4096"]),
    ("POST", "/search", {"query": CONTROL}, 422, ["query", "blank"]),
    ("POST", "/lightrag/query", {"query": "x", "mode": "fast"}, 422, ["mode"]),
    ("POST", "/lightrag/query", {"query": " "}, 422, ["query"]),
    ("POST", "/lightrag/query", {"query": CONTROL}, 422, ["query", "blank"]),
    ("POST", "/lightrag/query", {"query": "\x01ab\x02"}, 422, ["query", "3 characters"]),
    ("GET", "/jobs/not-a-job", None, 404, ["32"]),
    ("GET", "/jobs/" + "0" * 32, None, 404, ["no job"]),
    ("DELETE", "/jobs/" + "0" * 32, None, 404, ["no job"]),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "words"),
    JSON_CASES,
    ids=[f"{c[0]} {c[1]} {c[2]}"[:80] for c in JSON_CASES],
)
def test_bad_json_requests_get_actionable_4xx(
    stack: Stack, method: str, path: str, body: dict | None, code: int, words: list[str]
) -> None:
    with stack.http() as c:
        r = c.request(method, path, json=body)
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word.lower() in detail.lower(), f"{word!r} not in {detail!r}"


@pytest.mark.parametrize(
    ("path", "body", "code", "words"),
    [
        ("/search", '{"query": "x", "score_threshold": NaN}', 422, ["score_threshold", "finite"]),
        (
            "/search",
            '{"query": "x", "filters": {"chunk_index": {"gte": -Infinity}}}',
            422,
            ["finite"],
        ),
        ("/search", '{"query": "x", "filters": {"metadata.n": 1e999}}', 422, ["finite"]),
        ("/search", '{"query": "x", "filters": {"metadata.n": 1%s}}' % ("0" * 400), 422, ["large"]),
        ("/vectors", '{"text": "x", "metadata": {"n": Infinity}}', 422, ["metadata.n", "finite"]),
        ("/vectors", '{"items": [{"text": "x", "metadata": {"n": NaN}}]}', 422, ["finite"]),
        # POST /ingest-async reads its body with a JSON parser that has no NaN at all.
        ("/ingest-async", '{"type": "text", "text": "x", "metadata": {"n": NaN}}', 400, ["JSON"]),
    ],
    ids=["threshold", "range", "overflow", "huge-int", "store", "batch", "ingest"],
)
def test_numbers_json_has_not_are_refused(
    stack: Stack, path: str, body: str, code: int, words: list[str]
) -> None:
    """Python's JSON reader takes NaN, Infinity and 1e999 (infinite): JSON has no such
    numbers, a threshold of NaN would silently match everything, and a stored one reads
    back as null. Each is refused, naming the field or the body."""
    with stack.http() as c:
        r = c.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word.lower() in detail.lower(), f"{word!r} not in {detail!r}"


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/vectors", 422, ["not valid Unicode", "'k'"]),
        # POST /ingest-async reads its body with a JSON parser that refuses it outright.
        ("/ingest-async", 400, ["not valid JSON", "surrogate"]),
    ],
)
def test_a_lone_surrogate_in_metadata_is_refused_before_anything_is_stored(
    stack: Stack, path: str, code: int, words: list[str]
) -> None:
    """JSON can spell a lone surrogate ("\\udfff"), which is no Unicode text: a metadata
    value holding one is refused, naming it, rather than failing the write (500) or the job."""
    body = '{"type": "text", "text": "abc", "metadata": {"k": "\\udfff"}}'
    if path == "/vectors":
        body = body.replace('"type": "text", ', "")
    with stack.http() as c:
        r = c.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == code, r.text
    assert all(word in r.json()["detail"] for word in words), r.text


@pytest.mark.parametrize("path", ["/search", "/vectors", "/lightrag/query"])
@pytest.mark.parametrize(
    ("body", "why"),
    [(b'{"query": "\xff\xfe"}', "not UTF-8"), (b"[" * 5000 + b"]" * 5000, "nested too deeply")],
    ids=["latin-1", "deep"],
)
def test_a_body_json_cannot_read_is_invalid_json_with_its_cause(
    stack: Stack, path: str, body: bytes, why: str
) -> None:
    with stack.http() as c:
        r = c.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_json" and why in r.json()["detail"], r.text


def test_malformed_json_and_wrong_content_type(stack: Stack) -> None:
    with stack.http() as c:
        r = c.post(
            "/ingest-async", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert "JSON" in r.json()["detail"]
        r = c.post("/search", content=b"{oops", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert "JSON" in r.json()["detail"]
        r = c.post("/ingest-async", content=b"<x/>", headers={"content-type": "text/xml"})
        assert r.status_code == 415
        assert "multipart/form-data" in r.json()["detail"]


def test_too_long_text_is_413(stack: Stack) -> None:
    limit = stack.settings_dict()["orchestrator"].get("max_text_chars", 2_000_000)
    with stack.http() as c:
        r = c.post("/ingest-async", json={"type": "text", "text": "a" * (limit + 1)})
    assert r.status_code == 413
    assert "max_text_chars" in r.json()["detail"]


@pytest.mark.parametrize(
    ("files", "data", "code", "word"),
    [
        ({"file": ("empty.txt", b"", "text/plain")}, {}, 422, "empty"),
        (
            {"file": ("image.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
            {},
            415,
            "supported",
        ),
        (
            {"file": ("big.txt", b"a" * (2 * 1024 * 1024 + 10), "text/plain")},
            {},
            413,
            "max_upload_bytes",
        ),
        ({"other": ("a.txt", b"hello", "text/plain")}, {}, 422, "file"),
        ({"file": ("a.txt", b"hello", "text/plain")}, {"metadata": "{oops"}, 422, "metadata"),
        ({"file": ("a.txt", b"hello", "text/plain")}, {"metadata": "[1]"}, 422, "object"),
        (
            {"file": ("a.txt", b"hello", "text/plain")},
            {"metadata": "[" * 1000 + "]" * 1000},
            422,
            "nested too deeply",
        ),
        (
            {"file": ("a.txt", b"hello", "text/plain")},
            {"metadata": '{"k": "\\ud800"}'},
            422,
            "not valid Unicode",
        ),
    ],
    ids=[
        "empty",
        "png",
        "too-large",
        "no-file-field",
        "metadata-not-json",
        "metadata-list",
        "metadata-deep",
        "metadata-surrogate",
    ],
)
def test_bad_uploads_get_actionable_4xx(
    stack: Stack, files: dict, data: dict, code: int, word: str
) -> None:
    with stack.http() as c:
        r = c.post("/ingest-async", files=files, data=data)
    assert r.status_code == code, r.text
    assert word.lower() in r.json()["detail"].lower()


def test_corrupt_pdf_fails_the_job_with_a_reason_and_harms_nothing(stack: Stack) -> None:
    with stack.http() as c:
        before = c.post(
            "/vectors",
            json={"text": "Sentinel entry about the Brindle canal.", "source": "sentinel"},
        ).json()["ids"]
        r = c.post(
            "/ingest-async",
            files={"file": ("broken.pdf", b"%PDF-1.7\n\x00garbage\xff" * 20, "application/pdf")},
        )
        assert r.status_code == 202
        job = stack.wait_job(r.json()["job_id"])
        assert job["status"] == "failed"
        assert "broken.pdf" in job["error"]
        hits = c.post("/search", json={"query": "Brindle canal", "limit": 1}).json()["results"]
        assert hits[0]["id"] == before[0]


def test_bad_last_event_id_and_idempotency_key(stack: Stack) -> None:
    with stack.http() as c:
        r = c.get("/events", headers={"Last-Event-ID": "yesterday"})
        assert r.status_code == 400
        assert "Last-Event-ID" in r.json()["detail"]
        r = c.post(
            "/ingest-async",
            json={"type": "text", "text": "x"},
            headers={"Idempotency-Key": "with space"},
        )
        assert r.status_code == 422
        assert "idempotency" in r.json()["detail"].lower()
