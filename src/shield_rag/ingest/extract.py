"""Turn fetched or uploaded bytes into text: HTML, PDF, DOCX, plain text and Markdown.

Every library error is caught and reported as a :class:`PermanentJobError` whose message
names the file and says what to do; no input makes this module raise anything else.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import charset_normalizer
import docx
import lxml.html
import pypdf
import trafilatura
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from shield_rag.errors import PermanentJobError

log = logging.getLogger(__name__)

HTML = "text/html"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
SUPPORTED = (HTML, PDF, DOCX, TEXT, MARKDOWN)
SUPPORTED_HINT = "supported types are HTML, PDF, DOCX, plain text and Markdown"

MAX_DOCX_UNCOMPRESSED = 256 * 1024 * 1024  # refuse zip bombs before python-docx inflates them
MAX_PDF_PAGES = 5000

_DECLARED = {
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "application/pdf": PDF,
    "application/x-pdf": PDF,
    DOCX: DOCX,
    "text/plain": TEXT,
    "text/markdown": MARKDOWN,
    "text/x-markdown": MARKDOWN,
}
_GENERIC = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}
)
_EXTENSIONS = {
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".pdf": PDF,
    ".docx": DOCX,
    ".txt": TEXT,
    ".text": TEXT,
    ".log": TEXT,
    ".csv": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body)", re.IGNORECASE)
_MD_TITLE = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    text: str
    title: str | None
    content_type: str  # one of SUPPORTED


def _label(filename: str | None) -> str:
    return f"file {filename!r}" if filename else "the document"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _unused, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _is_docx_zip(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            return "word/document.xml" in zf.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False


def detect_type(content: bytes, content_type: str | None, filename: str | None) -> str:
    """Return one of SUPPORTED, or raise PermanentJobError for anything else.

    Magic bytes first (``%PDF-``, a zip holding ``word/document.xml``), then the declared
    content type, then the file name's extension, then a look at the bytes (HTML, text).
    """
    if b"%PDF-" in content[:1024]:
        return PDF
    declared = _media_type(content_type)
    ext = posixpath.splitext((filename or "").lower())[1]
    if content.startswith(b"PK\x03\x04"):
        if _is_docx_zip(content) or declared == DOCX or ext == ".docx":
            return DOCX  # a damaged .docx is reported by extract() as unreadable
        raise PermanentJobError(
            f"{_label(filename)} is a zip archive but not a Word (.docx) document; "
            + SUPPORTED_HINT
        )
    if declared in _DECLARED:
        return _DECLARED[declared]
    if declared.startswith("text/") and declared not in ("text/css", "text/javascript"):
        return TEXT
    if declared in _GENERIC:
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        if _HTML_START.match(content[:1024]):
            return HTML
        if content and b"\x00" not in content[:8192] and _looks_like_text(content[:8192]):
            return TEXT
    hint = " (old .doc files: save as .docx)" if ext == ".doc" else ""
    shown = declared or (ext and f"extension {ext}") or "unknown"
    raise PermanentJobError(
        f"{_label(filename)} has an unsupported type ({shown}){hint}; {SUPPORTED_HINT}"
    )


def _looks_like_text(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return True
    best = charset_normalizer.from_bytes(sample).best()
    return best is not None and best.chaos < 0.2


def _clean(text: str) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def decode_text(content: bytes, content_type: str | None = None) -> str:
    """Decode text bytes: BOM, declared charset, UTF-8, then charset detection."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    declared = _charset(content_type)
    if declared:
        try:
            return content.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(content).best()
    if best is not None:
        return str(best)
    return content.decode("utf-8", errors="replace")


def _extract_html(content: bytes, content_type: str | None, name: str) -> tuple[str, str | None]:
    text = ""
    title: str | None = None
    # A charset from the Content-Type header beats trafilatura's guess from the bytes.
    source: bytes | str = decode_text(content, content_type) if _charset(content_type) else content
    try:
        doc = trafilatura.bare_extraction(
            source, with_metadata=True, include_tables=True, include_comments=False
        )
        if isinstance(doc, dict):  # older trafilatura
            text, title = doc.get("text") or "", doc.get("title")
        elif doc is not None:
            text, title = doc.text or "", doc.title
    except Exception as exc:  # noqa: BLE001 - trafilatura on hostile HTML; fall back to lxml
        log.warning("trafilatura failed on %s (%s); using plain lxml text", name, exc)
    if text.strip():
        return text, title
    try:
        tree = lxml.html.document_fromstring(content)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise PermanentJobError(f"{name} is not readable HTML: {exc}") from exc
    for bad in tree.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    if title is None:
        found = tree.findtext(".//title")
        title = found.strip() if found and found.strip() else None
    return str(tree.text_content()), title


def _extract_pdf(content: bytes, name: str) -> tuple[str, str | None]:
    try:
        reader = pypdf.PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:
                raise PermanentJobError(f"{name} is encrypted and cannot be opened: {exc}") from exc
            if not opened:
                raise PermanentJobError(f"{name} is password-protected; upload an unprotected copy")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise PermanentJobError(
                f"{name} has {len(reader.pages)} pages; at most {MAX_PDF_PAGES} are accepted"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title = meta.title if meta is not None and isinstance(meta.title, str) else None
    except PermanentJobError:
        raise
    except Exception as exc:
        raise PermanentJobError(f"{name} is not a readable PDF: {exc}") from exc
    return "\n\n".join(pages), (title.strip() or None) if title else None


def _docx_blocks(document: DocxDocument) -> Iterator[str]:
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = " ".join(cell.text.split())
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                yield " | ".join(cells)
            yield ""


def _extract_docx(content: bytes, name: str) -> tuple[str, str | None]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            inflated = sum(info.file_size for info in zf.infolist())
        if inflated > MAX_DOCX_UNCOMPRESSED:
            raise PermanentJobError(
                f"{name} expands to {inflated} bytes when unpacked; at most "
                f"{MAX_DOCX_UNCOMPRESSED} are accepted"
            )
        document = docx.Document(io.BytesIO(content))
        text = "\n".join(_docx_blocks(document))
        title = document.core_properties.title or None
    except PermanentJobError:
        raise
    except Exception as exc:
        raise PermanentJobError(f"{name} is not a readable Word document: {exc}") from exc
    return text, title


def _extract_plain(
    content: bytes, content_type: str | None, markdown: bool
) -> tuple[str, str | None]:
    text = decode_text(content, content_type)
    title = None
    if markdown:
        match = _MD_TITLE.search(text)
        title = match.group(1) if match else None
    return text, title


def extract(
    content: bytes, content_type: str | None = None, filename: str | None = None
) -> ExtractedDocument:
    """Extract the text and title of a document; PermanentJobError if it cannot be read."""
    kind = detect_type(content, content_type, filename)
    name = _label(filename)
    handlers: dict[str, Callable[[], tuple[str, str | None]]] = {
        HTML: lambda: _extract_html(content, content_type, name),
        PDF: lambda: _extract_pdf(content, name),
        DOCX: lambda: _extract_docx(content, name),
        TEXT: lambda: _extract_plain(content, content_type, markdown=False),
        MARKDOWN: lambda: _extract_plain(content, content_type, markdown=True),
    }
    raw, title = handlers[kind]()
    text = _clean(raw)
    if not text:
        hint = " (a scanned PDF needs OCR, which is not supported)" if kind == PDF else ""
        raise PermanentJobError(f"{name} contains no text that could be extracted{hint}")
    return ExtractedDocument(text, (_clean(title) or None) if title else None, kind)
