"""Text extraction from HTML, PDF, DOCX, text and Markdown, and its errors."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

import shield_rag.ingest.extract as extract_mod
from shield_rag.errors import PermanentJobError
from shield_rag.ingest.extract import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
    ExtractedDocument,
    detect_type,
    extract,
)
from tests.support.documents import docx_with, pdf_with

ARTICLE = b"""<!DOCTYPE html><html><head><title>Shield Handbook</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Shield Handbook</h1>
<p>The retrieval backend answers questions from the documents an operator ingested into it.</p>
<p>Every ingestion job is queued in Redis and processed by a worker that can be restarted.</p>
<script>var secret = "do not index";</script>
</article><footer>Copyright</footer></body></html>"""


# --- detect_type ---------------------------------------------------------------------------


def test_magic_bytes_beat_declared_type_and_extension() -> None:
    pdf = pdf_with(["hello"])
    assert detect_type(pdf, "text/html", "page.html") == PDF
    assert detect_type(docx_with(["x"]), "application/octet-stream", "file.bin") == DOCX


@pytest.mark.parametrize(
    ("content_type", "filename", "expected"),
    [
        ("text/html; charset=utf-8", None, HTML),
        ("application/xhtml+xml", None, HTML),
        ("text/plain", "notes.md", TEXT),  # declared type before extension
        ("text/markdown", None, MARKDOWN),
        ("text/csv", None, TEXT),
        (None, "README.md", MARKDOWN),
        ("application/octet-stream", "notes.txt", TEXT),
        (None, "page.HTM", HTML),
    ],
)
def test_declared_type_then_extension(
    content_type: str | None, filename: str | None, expected: str
) -> None:
    assert detect_type(b"just some words", content_type, filename) == expected


def test_sniffs_html_and_text_without_hints() -> None:
    assert detect_type(b"  <!doctype html><html><body>x</body></html>", None, None) == HTML
    assert detect_type("plain words, caf\u00e9".encode(), None, None) == TEXT


@pytest.mark.parametrize(
    ("content", "content_type", "filename", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "logo.png", "image/png"),
        (b"\xd0\xcf\x11\xe0\x00\x00", None, "old.doc", "save as .docx"),
        (b"\x00\x01\x02\x03binary", None, None, "unknown"),
    ],
)
def test_unsupported_types_are_named(
    content: bytes, content_type: str | None, filename: str | None, needle: str
) -> None:
    with pytest.raises(PermanentJobError, match="unsupported type") as err:
        detect_type(content, content_type, filename)
    assert needle in str(err.value)
    assert "supported types are HTML, PDF, DOCX" in str(err.value)


def test_zip_that_is_not_docx_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(PermanentJobError, match=r"'book.xlsx' is a zip archive but not a Word"):
        detect_type(buf.getvalue(), None, "book.xlsx")


# --- HTML ------------------------------------------------------------------------------------


def test_html_main_text_and_title() -> None:
    doc = extract(ARTICLE, "text/html", "page.html")
    assert isinstance(doc, ExtractedDocument)
    assert doc.content_type == HTML
    assert doc.title == "Shield Handbook"
    assert "queued in Redis" in doc.text
    assert "do not index" not in doc.text


def test_html_uses_declared_charset() -> None:
    body = (
        "<html><body><p>Gr\u00fc\u00dfe aus M\u00fcnchen, sch\u00f6ne Stra\u00dfe.</p>"
        "</body></html>"
    )
    doc = extract(body.encode("latin-1"), "text/html; charset=ISO-8859-1")
    assert "Gr\u00fc\u00dfe aus M\u00fcnchen" in doc.text


@pytest.mark.parametrize("failure", ["none", "raises"])
def test_html_falls_back_to_lxml_text(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    def fake(*args: object, **kwargs: object) -> None:
        if failure == "raises":
            raise RuntimeError("extractor bug")
        return None

    monkeypatch.setattr(extract_mod.trafilatura, "bare_extraction", fake)
    doc = extract(ARTICLE, "text/html")
    assert "queued in Redis" in doc.text
    assert "do not index" not in doc.text  # scripts are dropped by the fallback too
    assert doc.title == "Shield Handbook"


def test_html_without_text_is_an_error() -> None:
    with pytest.raises(PermanentJobError, match="contains no text"):
        extract(b"<html><head><script>x()</script></head><body> </body></html>", "text/html")


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_text_and_title() -> None:
    content = pdf_with(["Shield ingests PDF files.", "Second line of the report."], "Report")
    doc = extract(content, "application/pdf", "report.pdf")
    assert doc.content_type == PDF
    assert doc.title == "Report"
    assert "Shield ingests PDF files." in doc.text
    assert "Second line of the report." in doc.text


def test_encrypted_pdf_is_refused_with_advice() -> None:
    content = pdf_with(["classified"], user_password="hunter2-password")
    with pytest.raises(PermanentJobError, match=r"'locked.pdf' is password-protected"):
        extract(content, None, "locked.pdf")


def test_pdf_without_text_mentions_ocr() -> None:
    with pytest.raises(PermanentJobError, match=r"no text.*OCR"):
        extract(pdf_with([]), None, "scan.pdf")


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%garbage that is not a pdf at all\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>",
    ],
)
def test_corrupt_pdf_is_a_permanent_error(content: bytes) -> None:
    with pytest.raises(PermanentJobError, match=r"'broken.pdf'"):
        extract(content, "application/pdf", "broken.pdf")


def test_truncated_pdf_never_escapes_as_another_error() -> None:
    content = pdf_with([f"line {i}" for i in range(40)])
    errors: list[str] = []
    for cut in range(64, len(content), max(1, len(content) // 25)):
        try:
            doc = extract(content[:cut], None, "cut.pdf")
        except PermanentJobError as exc:
            errors.append(str(exc))
        else:
            assert doc.text
    assert errors
    assert all("'cut.pdf'" in message for message in errors)


# --- DOCX ------------------------------------------------------------------------------------


def test_docx_paragraphs_and_tables_in_order() -> None:
    content = docx_with(
        ["Introduction paragraph.", "Second paragraph."],
        table=[["Port", "Service"], ["8600", "orchestrator"]],
        title="Ops guide",
    )
    doc = extract(content, None, "guide.docx")
    assert doc.content_type == DOCX
    assert doc.title == "Ops guide"
    assert doc.text.index("Introduction") < doc.text.index("8600 | orchestrator")
    assert doc.text.index("8600 | orchestrator") < doc.text.index("After the table.")
    assert "Port | Service" in doc.text


def test_damaged_docx_is_a_permanent_error() -> None:
    content = docx_with(["hello"])
    with pytest.raises(PermanentJobError, match=r"'cut.docx' is not a readable Word document"):
        extract(content[: len(content) // 2], None, "cut.docx")


def test_docx_with_broken_xml_is_a_permanent_error() -> None:
    source = zipfile.ZipFile(io.BytesIO(docx_with(["hello"])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]
            out.writestr(item, data)
    with pytest.raises(PermanentJobError, match="not a readable Word document"):
        extract(buf.getvalue(), None, "bad.docx")


def test_docx_zip_bomb_is_refused_before_inflating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_mod, "MAX_DOCX_UNCOMPRESSED", 64 * 1024)
    source = zipfile.ZipFile(io.BytesIO(docx_with(["hello"])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            out.writestr(item, source.read(item.filename))
        out.writestr("word/media/filler.bin", b"\x00" * (128 * 1024))
    with pytest.raises(PermanentJobError, match="expands to"):
        extract(buf.getvalue(), None, "bomb.docx")


# --- text and Markdown -----------------------------------------------------------------------


def test_plain_text_is_decoded_and_whitespace_normalised() -> None:
    doc = extract(b"  line one \t with   gaps\r\n\r\n\r\n\r\nline\x00 two\x07  ", "text/plain")
    assert doc == ExtractedDocument("line one with gaps\n\nline two", None, TEXT)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("\ufeffGr\u00fc\u00dfe aus M\u00fcnchen".encode("utf-16"), None),
        ("Gr\u00fc\u00dfe aus M\u00fcnchen".encode("latin-1"), "text/plain; charset=latin-1"),
        ("Gr\u00fc\u00dfe aus M\u00fcnchen".encode("utf-8-sig"), "text/plain"),
    ],
)
def test_text_encodings(content: bytes, content_type: str | None) -> None:
    assert "Gr\u00fc\u00dfe aus M\u00fcnchen" in extract(content, content_type, "x.txt").text


def test_undeclared_legacy_encoding_is_detected() -> None:
    german = (
        "Der B\u00e4r l\u00e4uft \u00fcber die Stra\u00dfe und gr\u00fc\u00dft die M\u00f6we. "
        "Ein sch\u00f6ner Tag im Fr\u00fchling. "
    ) * 3
    doc = extract(german.encode("cp1252"), None, "notes.txt")
    assert "Der B\u00e4r l\u00e4uft \u00fcber die Stra\u00dfe" in doc.text


def test_markdown_title_from_first_heading() -> None:
    doc = extract(b"Intro line\n\n# Shield  RAG #\n\nBody text.\n\n## Later\n", None, "README.md")
    assert doc.content_type == MARKDOWN
    assert doc.title == "Shield RAG"
    assert "Body text." in doc.text


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", b"\x00\x00"])
def test_empty_text_is_an_error(content: bytes) -> None:
    with pytest.raises(PermanentJobError, match=r"'empty.txt' contains no text"):
        extract(content, "text/plain", "empty.txt")


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/html", "application/pdf", DOCX, "text/plain"])
def test_random_bytes_never_raise_anything_but_permanent_errors(content_type: str | None) -> None:
    rng = random.Random(1234)
    prefixes = [b"", b"%PDF-1.5\n", b"PK\x03\x04", b"<html><body>", b"\xef\xbb\xbf"]
    for i in range(60):
        blob = prefixes[i % len(prefixes)] + rng.randbytes(rng.randint(0, 3000))
        try:
            doc = extract(blob, content_type, "fuzz.bin")
        except PermanentJobError:
            continue
        assert doc.text.strip() == doc.text
        assert doc.text


def test_deeply_nested_html_does_not_crash() -> None:
    html = b"<html><body>" + b"<div>" * 20000 + b"deep text" + b"</div>" * 20000 + b"</body></html>"
    try:
        doc = extract(html, "text/html")
    except PermanentJobError:
        return
    assert "deep text" in doc.text
