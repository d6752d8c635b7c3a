"""Ingest documents, a web site and text through the real services; find and query them."""

from __future__ import annotations

import pytest

from tests.integration.stack import Stack, metric_value
from tests.support.documents import (
    DOCX_FACT,
    PDF_FACT,
    TXT_FACT,
    make_docx,
    make_pdf,
    make_txt,
)
from tests.support.site import SiteServer

pytestmark = pytest.mark.integration

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _upload(stack: Stack, name: str, blob: bytes, mime: str) -> dict:
    with stack.http() as c:
        r = c.post(
            "/ingest-async",
            files={"file": (name, blob, mime)},
            data={"metadata": '{"team": "docs"}'},
        )
    assert r.status_code == 202, r.text
    return r.json()


def _top_text(stack: Stack, query: str, **extra: object) -> list[dict]:
    with stack.http() as c:
        r = c.post("/search", json={"query": query, "limit": 3, **extra})
    assert r.status_code == 200, r.text
    return r.json()["results"]


@pytest.fixture(scope="module")
def uploaded(stack: Stack) -> dict[str, dict]:
    jobs = {
        "pdf": _upload(stack, "lighthouse.pdf", make_pdf(), "application/pdf"),
        "docx": _upload(stack, "nimbus.docx", make_docx(), DOCX_MIME),
        "txt": _upload(stack, "bakery.txt", make_txt(), "text/plain"),
    }
    return {k: stack.wait_job(v["job_id"]) for k, v in jobs.items()}


def test_accept_returns_202_with_job_location_and_retry_after(stack: Stack) -> None:
    with stack.http() as c:
        r = c.post("/ingest-async", json={"type": "text", "text": "Accept me quickly."})
    assert r.status_code == 202
    body = r.json()
    assert r.headers["location"] == body["track_url"]
    assert int(r.headers["retry-after"]) >= 1
    assert body["track_url"].endswith(f"/jobs/{body['job_id']}")
    assert body["status"] in {"queued", "running", "succeeded"}


@pytest.mark.parametrize(
    ("kind", "query", "fact"),
    [
        ("pdf", "How heavy is the brass lens of the lighthouse?", PDF_FACT),
        ("docx", "Where do the carrier pigeons deliver seed packets?", DOCX_FACT),
        ("txt", "When does the bakery sell cardamom buns?", TXT_FACT),
    ],
)
def test_uploaded_documents_are_found_by_search(
    stack: Stack, uploaded: dict[str, dict], kind: str, query: str, fact: str
) -> None:
    job = uploaded[kind]
    assert job["status"] == "succeeded", job
    assert job["result"]["chunks"] >= 1
    hits = _top_text(stack, query)
    assert hits, "search returned nothing"
    assert fact.split(" ")[1] in hits[0]["text"], hits[0]
    assert hits[0]["metadata"] == {"team": "docs"}
    assert hits[0]["doc_id"] == job["result"]["doc_ids"][0]


def test_search_filters_and_paging(stack: Stack, uploaded: dict[str, dict]) -> None:
    pdf_doc = uploaded["pdf"]["result"]["doc_ids"][0]
    only_pdf = _top_text(stack, "cardamom buns bakery", filters={"doc_id": pdf_doc})
    assert only_pdf and all(h["doc_id"] == pdf_doc for h in only_pdf)
    by_meta = _top_text(stack, "pigeons", filters={"metadata.team": "docs"})
    assert by_meta and all(h["metadata"]["team"] == "docs" for h in by_meta)
    with stack.http() as c:
        page1 = c.post("/search", json={"query": "notes", "limit": 1, "offset": 0}).json()
        page2 = c.post("/search", json={"query": "notes", "limit": 1, "offset": 1}).json()
    assert page1["results"][0]["id"] != page2["results"][0]["id"]


def test_a_metadata_label_with_dots_is_filtered_as_one_key(stack: Stack) -> None:
    """ "team.lead" is one metadata key; unquoted, Qdrant would look for metadata.team.lead."""
    with stack.http() as c:
        r = c.post(
            "/vectors",
            json={
                "text": "The quay crane is serviced on Tuesdays",
                "metadata": {"team.lead": "ada"},
            },
        )
        assert r.status_code == 200, r.text
        (stored,) = r.json()["ids"]
    hits = _top_text(stack, "quay crane", filters={"metadata.team.lead": "ada"})
    assert [h["id"] for h in hits] == [stored]
    assert _top_text(stack, "quay crane", filters={"metadata.team.lead": "bob"}) == []


def test_a_metadata_integer_beyond_64_bits_is_stored_and_found_as_a_number(stack: Stack) -> None:
    """Qdrant's integers are 64-bit: a larger one is a number (a double), stored so and
    matched so by a filter naming it, as JSON reads it."""
    big = 10**30
    with stack.http() as c:
        r = c.post(
            "/vectors",
            json={"text": "The Halcyon vault counts its grains", "metadata": {"grains": big}},
        )
        assert r.status_code == 200, r.text
        (stored,) = r.json()["ids"]
    hits = _top_text(stack, "Halcyon vault", filters={"metadata.grains": big})
    assert [h["id"] for h in hits] == [stored]
    assert hits[0]["metadata"] == {"grains": float(big)}


def test_crawl_of_local_site_respects_robots_and_is_searchable(
    stack: Stack, site: SiteServer
) -> None:
    with stack.http() as c:
        r = c.post(
            "/ingest-async",
            json={
                "type": "url",
                "url": f"{site.url}/",
                "max_pages": 10,
                "max_depth": 2,
                "metadata": {"crawl": "site"},
            },
        )
    assert r.status_code == 202, r.text
    job = stack.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["documents"] == 3  # index, reactor, archive; /private/ is disallowed
    assert "/private/secret.html" not in site.hits
    hits = _top_text(
        stack,
        "At what temperature does the Zorblax reactor operate?",
        filters={"metadata.crawl": "site"},
    )
    assert "451 kelvin" in hits[0]["text"]
    assert hits[0]["source"].endswith("/reactor.html")


def test_a_host_with_a_root_dot_and_capitals_crawls_inside_its_own_domain(
    stack: Stack, site: SiteServer
) -> None:
    # "LOCALHOST." names the same host as "localhost" (resolved from /etc/hosts, no DNS
    # query leaves the machine): normalised at submission, the crawl stays in its domain.
    port = site.server_address[1]
    with stack.http() as c:
        r = c.post(
            "/ingest-async",
            json={
                "type": "url",
                "url": f"http://LOCALHOST.:{port}/reactor.html",
                "max_pages": 1,
                "allowed_domains": ["LocalHost."],
            },
        )
    assert r.status_code == 202, r.text
    job = stack.wait_job(r.json()["job_id"])
    assert job["status"] == "succeeded", job
    assert job["source"] == f"http://localhost:{port}/reactor.html"


def test_reingesting_the_same_text_does_not_duplicate_vectors(stack: Stack) -> None:
    body = {
        "type": "text",
        "text": "Duplicate check: the Ombral comet returns every 83 years.",
        "source": "ombral-notes",
    }
    ids = []
    with stack.http() as c:
        for _unused in range(2):
            r = c.post("/ingest-async", json=body)
            ids.append(stack.wait_job(r.json()["job_id"])["result"]["doc_ids"][0])
        assert ids[0] == ids[1]
        hits = c.post(
            "/search", json={"query": "Ombral comet", "limit": 10, "filters": {"doc_id": ids[0]}}
        ).json()["results"]
    assert len(hits) == 1


def test_store_vectors_batch_then_find(stack: Stack) -> None:
    items = [
        {"text": "Glimmerstone mine produces violet quartz.", "metadata": {"batch": "b1"}},
        {"text": "The Pellucid river freezes in early November.", "metadata": {"batch": "b1"}},
    ]
    with stack.http() as c:
        r = c.post("/vectors", json={"items": items})
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 2
        single = c.post("/vectors", json={"text": "Single entry about the Tessellate bridge."})
        assert single.status_code == 200
    hits = _top_text(stack, "violet quartz mine", filters={"metadata.batch": "b1"})
    assert "Glimmerstone" in hits[0]["text"]


@pytest.mark.parametrize("mode", ["naive", "local", "global", "hybrid", "mix"])
def test_lightrag_query_answers_from_ingested_documents(
    stack: Stack, uploaded: dict[str, dict], mode: str
) -> None:
    with stack.http(timeout=120) as c:
        r = c.post(
            "/lightrag/query",
            json={"query": "What does the Halvorsen lighthouse lens weigh?", "mode": mode},
        )
    assert r.status_code == 200, r.text
    assert "812" in r.json()["response"], r.json()


def test_readiness_and_metrics(stack: Stack, uploaded: dict[str, dict]) -> None:
    with stack.http() as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert set(ready.json()["checks"]) == {"redis", "qdrant", "ollama", "lightrag"}
        c.get("/jobs/" + uploaded["pdf"]["job_id"])
        assert (
            c.post(
                "/lightrag/query", json={"query": "lens", "mode": "naive"}, timeout=120
            ).status_code
            == 200
        )
    text = stack.metrics(stack.orch_metrics_port)
    assert (
        metric_value(
            text,
            "api_requests_total",
            {"endpoint": "/jobs/{job_id}", "method": "GET", "status": "200"},
        )
        or 0
    ) >= 1
    assert metric_value(text, "api_duration_seconds_count", {"endpoint": "/ingest-async"})
    for gauge in ("worker_queue_size", "active_jobs"):
        assert metric_value(text, gauge) is not None
    assert (
        metric_value(text, "lightrag_operations_total", {"operation": "query", "status": "success"})
        or 0
    ) >= 1
