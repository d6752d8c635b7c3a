"""URL normalisation, link extraction from HTML and the crawl's domain rule."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterable
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from shield_rag.errors import PermanentJobError
from shield_rag.ingest.ssrf import SSRFError, normalise_host

DEFAULT_PORTS = {"http": 80, "https": 443}

# Links with these extensions are never documents the pipeline can read: not worth a fetch.
SKIPPED_EXTENSIONS = frozenset(
    {
        ".7z", ".avi", ".bmp", ".css", ".dmg", ".doc", ".exe", ".gif", ".gz", ".ico", ".iso",
        ".jpeg", ".jpg", ".js", ".mjs", ".mov", ".mp3", ".mp4", ".ogg", ".png", ".ppt",
        ".pptx", ".rar", ".svg", ".tar", ".tgz", ".ttf", ".wav", ".webm", ".webp", ".woff",
        ".woff2", ".xls", ".xlsx", ".zip",
    }
)  # fmt: skip


def normalise_url(url: str) -> str | None:
    """Canonical form used for de-duplication; None for non-http(s) or unparsable URLs.

    Lower-cases scheme and host (host in ``normalise_host`` form), drops the default port
    and the fragment, and gives an empty path as ``/``. The query is kept as it is (its
    order can matter to the server).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    else:
        try:
            host = normalise_host(host)
        except SSRFError:
            return None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def url_filename(url: str) -> str | None:
    """The last path segment of ``url`` (for type detection by extension), if any."""
    name = posixpath.basename(unquote(urlsplit(url).path))
    return name or None


def has_skipped_extension(url: str) -> bool:
    name = url_filename(url) or ""
    return posixpath.splitext(name.lower())[1] in SKIPPED_EXTENSIONS


def extract_links(html: bytes, base_url: str) -> list[str]:
    """Absolute, normalised http(s) links of ``<a href>`` and ``<area href>``, in page order."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return []
    base = base_url
    base_el = doc.find(".//base[@href]")
    if base_el is not None:
        base = urljoin(base_url, (base_el.get("href") or "").strip())
    found: dict[str, None] = {}
    for el in doc.iter("a", "area"):
        href = (el.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        try:
            absolute = urljoin(base, href)
        except ValueError:
            continue
        norm = normalise_url(absolute)
        if norm is not None:
            found.setdefault(norm, None)
    return list(found)


def clean_domain(entry: str) -> str:
    """An ``allowed_domains`` entry as a host name in :func:`normalise_host` form."""
    raw = entry.strip()
    if "://" in raw:
        raw = urlsplit(raw).hostname or ""
    raw = raw.strip("[]").lstrip(".")
    if not raw or "/" in raw:
        raise PermanentJobError(
            f"allowed domain {entry!r} is not a host name; give names like example.com"
        )
    try:
        return normalise_host(raw)
    except SSRFError as exc:
        raise PermanentJobError(
            f"allowed domain {entry!r} is not a valid host name; give names like example.com"
        ) from exc


def _host_of(url: str) -> str:
    try:
        return normalise_host(urlsplit(url).hostname or "")
    except (SSRFError, ValueError):
        return ""


class DomainRule:
    """Which hosts a crawl may visit.

    * ``allowed_domains`` given: each entry allows that host **and all its subdomains**
      (``example.com`` allows ``docs.example.com``; a leading dot, ``.example.com``, means the
      same). Entries may also be written as URLs; only their host is used.
    * ``allowed_domains`` is None: only the start URL's host itself (no subdomains), plus the
      host the start URL redirects to, if it does.

    Ports and schemes are not part of the rule.
    """

    def __init__(self, allowed_domains: Iterable[str] | None, start_host: str) -> None:
        self.explicit = allowed_domains is not None
        self._suffixes: set[str] = set()
        self._exact: set[str] = set()
        if allowed_domains is None:
            self.add_exact(start_host)
        else:
            self._suffixes = {clean_domain(d) for d in allowed_domains}
            if not self._suffixes:
                raise PermanentJobError("allowed_domains is empty; list at least one domain")

    def add_exact(self, host: str) -> None:
        with contextlib.suppress(SSRFError):
            self._exact.add(normalise_host(host))

    def allows(self, url: str) -> bool:
        host = _host_of(url)
        if not host:
            return False
        if host in self._exact:
            return True
        return any(host == d or host.endswith("." + d) for d in self._suffixes)

    def describe(self) -> str:
        return ", ".join(sorted(self._exact | self._suffixes))
