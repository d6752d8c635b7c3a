"""SSRF guard: decide whether a URL may be fetched before any connection is made.

Two checks, both needed:

* :func:`validate_url` runs on the URL text alone (at submit time and on every redirect). It
  allows http/https only, refuses user info, and refuses IP literals that are not globally
  routable or that are written in an ambiguous form (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
  ``127.1``, ``[::ffff:127.0.0.1]``...). Such forms are decoded differently by different URL
  parsers and resolvers, which is exactly what SSRF payloads exploit, so they are refused
  outright rather than interpreted.
* :func:`resolve_checked` resolves a host name and refuses it when *any* address it resolves to
  is not globally routable. The caller must connect to one of the returned addresses (not
  resolve again), or DNS rebinding defeats the check.

:func:`check_submitted_url` runs both when a crawl is submitted, so a name that resolves only
to refused ranges (``http://localhost/``) or not at all is refused at once, not by a worker
later; the worker still resolves and checks again at every fetch (DNS can change meanwhile).
Host names are compared in one form only (:func:`normalise_host`: case, IDNA, root dot).

``allowed_networks`` (``crawl.allowed_networks``) lists CIDRs an operator opens on purpose,
for example an intranet; addresses inside them pass although they are not global. The
unspecified address (``0.0.0.0``, ``::``) is never allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from shield_rag.errors import PermanentJobError, TransientJobError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
SETTING_HINT = "crawl.allowed_networks"

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# The last label of an IPv4 host in the WHATWG URL parser: decimal digits or 0x-hex.
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_CHARS = re.compile(r"^[a-z0-9._-]+$")


class SSRFError(PermanentJobError):
    """The URL or the address it resolves to must not be fetched."""


@lru_cache(maxsize=64)
def _parse_networks(allowed: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for item in allowed:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{SETTING_HINT}: {item!r} is not a CIDR network: {exc}") from exc
    return tuple(nets)


def _networks(allowed: Iterable[str]) -> tuple[IPNetwork, ...]:
    return _parse_networks(tuple(allowed))


def _in_allowed(ip: IPAddress, nets: Sequence[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 transition address carries, with the mechanism's name."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _plain_reason(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_loopback:
        return "a loopback"
    if ip.is_link_local:
        return "a link-local"
    if ip.version == 4 and ip in _CGNAT:
        return "a carrier-grade NAT (shared, 100.64.0.0/10)"
    if ip.is_private:
        return "a private"
    if ip.is_multicast:
        return "a multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
        return "a local-use NAT64"
    if ip.is_reserved:
        return "a reserved"
    if not ip.is_global:
        return "a special-purpose (not globally routable)"
    return None


def blocked_reason(ip: IPAddress, allowed_networks: Iterable[str] = ()) -> str | None:
    """Why ``ip`` must not be contacted (``"a private address"``...), or None if it may."""
    nets = _networks(allowed_networks)
    if ip.is_unspecified:
        return "an unspecified address"
    if _in_allowed(ip, nets):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, v4 = embedded
            if kind == "IPv4-compatible":
                return "a deprecated IPv4-compatible IPv6 address"
            inner = blocked_reason(v4, allowed_networks)
            if inner is not None:
                return f"a {kind} IPv6 address embedding {v4}, {inner}"
            if kind != "Teredo":  # Teredo's own range is not global: checked below
                return None
    reason = _plain_reason(ip)
    return f"{reason} address" if reason else None


def normalise_host(raw: str) -> str:
    """The one form of a host name every comparison uses: lower case, IDNA (``xn--``) for
    non-ASCII names, and no root dot (``Example.ORG.`` is ``example.org``).

    Raises :class:`SSRFError` for characters no host name has (percent-encoding, spaces,
    empty labels).
    """
    host = raw.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise SSRFError(f"host {raw!r} is not a valid internationalised host name") from exc
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # the DNS root: "example.org." names the same host
    if not host or not _HOST_CHARS.match(host) or ".." in host or host[0] == "." or host[-1] == ".":
        raise SSRFError(
            f"host {raw!r} contains characters that are not allowed in a host name "
            "(percent-encoding, special characters and empty labels are refused)"
        )
    return host


def _check_ipv4_form(host: str) -> IPAddress | None:
    """Return the IPv4 address if ``host`` is a canonical dotted quad; refuse other IP forms."""
    labels = host.rstrip(".").split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None  # an ordinary host name
    if not host.endswith("."):
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            pass
    try:
        meaning = f" (it would be read as {socket.inet_ntoa(socket.inet_aton(host.rstrip('.')))})"
    except OSError:
        meaning = ""
    raise SSRFError(
        f"host {host!r} is a non-canonical or ambiguous IPv4 form{meaning}; write the address "
        "as four decimal numbers without leading zeros, like 93.184.216.34"
    )


def _check_ip(ip: IPAddress, shown: str, allowed: Sequence[str]) -> None:
    reason = blocked_reason(ip, allowed)
    if reason is not None:
        raise SSRFError(
            f"host {shown} is {reason}; crawling private or special networks is disabled "
            f"(add a CIDR to {SETTING_HINT} to allow it)"
        )


def validate_url(url: str, allowed_networks: Sequence[str] = ()) -> str:
    """Check ``url`` statically and return it normalised (fragment dropped, host lower-case).

    Raises :class:`SSRFError` with a message saying what is wrong and how to fix it.
    """
    if not isinstance(url, str) or not url.strip():
        raise SSRFError("URL is empty")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise SSRFError(f"URL {url!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SSRFError(f"URL {url!r} is not valid: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "none"
        raise SSRFError(f"URL {url!r} has scheme {shown!r}; only http and https can be fetched")
    if "@" in parts.netloc:
        raise SSRFError(
            f"URL {url!r} contains user information (user:password@); credentials in URLs "
            "are not accepted"
        )
    raw_host = parts.hostname
    if not raw_host:
        raise SSRFError(f"URL {url!r} has no host")
    _networks(allowed_networks)  # a bad CIDR fails here, not at the first private host
    netloc_host: str
    if parts.netloc.startswith("["):
        try:
            ip6 = ipaddress.IPv6Address(raw_host)
        except ValueError as exc:
            raise SSRFError(f"host [{raw_host}] is not a valid IPv6 address") from exc
        if ip6.ipv4_mapped is not None:
            raise SSRFError(
                f"host [{raw_host}] is an IPv4-mapped IPv6 address (it means "
                f"{ip6.ipv4_mapped}); write the IPv4 address directly"
            )
        if ip6.scope_id:
            raise SSRFError(f"host [{raw_host}] has a zone index; scoped addresses are refused")
        _check_ip(ip6, f"[{ip6.compressed}]", allowed_networks)
        netloc_host = f"[{ip6.compressed}]"
    else:
        host = normalise_host(raw_host)
        # With its root dot an address is ambiguous ("127.0.0.1." is refused, not read).
        ip4 = _check_ipv4_form(f"{host}." if raw_host.endswith(".") else host)
        if ip4 is not None:
            _check_ip(ip4, str(ip4), allowed_networks)
        netloc_host = host
    if port is not None and port == 0:
        raise SSRFError(f"URL {url!r} has port 0")
    netloc = netloc_host if port in (None, DEFAULT_PORTS[scheme]) else f"{netloc_host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


async def resolve_checked(
    host: str, port: int, allowed_networks: Sequence[str] = ()
) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, refusing it if any is not allowed.

    An IP literal is checked without a DNS query. Resolution failures: a name that does not
    exist is a :class:`PermanentJobError`; other DNS errors are :class:`TransientJobError`.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        literal: IPAddress | None = ipaddress.ip_address(bare)
    except ValueError:
        literal = None
    if literal is not None:
        _check_ip(literal, str(literal), allowed_networks)
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            bare, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise PermanentJobError(f"host {bare} does not resolve (check the spelling)") from exc
        raise TransientJobError(f"DNS lookup of {bare} failed: {exc.strerror or exc}") from exc
    except UnicodeError as exc:
        raise SSRFError(f"host {bare!r} is not a valid host name") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", maxsplit=1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise PermanentJobError(f"host {bare} has no addresses")
    for ip in addresses:
        reason = blocked_reason(ip, allowed_networks)
        if reason is not None:
            raise SSRFError(
                f"host {bare} resolves to {ip}, {reason}; crawling private or special "
                f"networks is disabled (add a CIDR to {SETTING_HINT} to allow it)"
            )
    return addresses


async def check_submitted_url(
    url: str, allowed_networks: Sequence[str] = (), *, dns_timeout: float = 3.0
) -> str:
    """:func:`validate_url`, then resolve the host now and refuse it if it must not be fetched.

    Returns the normalised URL. A name that resolves to a refused address, or does not exist,
    raises :class:`SSRFError`. A lookup that fails for a passing reason (DNS server down, no
    answer within ``dns_timeout`` seconds) lets the URL through: the worker resolves and
    checks it again before every request anyway.
    """
    checked = validate_url(url, allowed_networks)
    parts = urlsplit(checked)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    try:
        async with asyncio.timeout(dns_timeout):
            await resolve_checked(host, port, allowed_networks)
    except SSRFError:
        raise
    except (TransientJobError, TimeoutError):
        return checked
    except PermanentJobError as exc:
        raise SSRFError(f"{exc}; nothing was queued") from exc
    return checked
