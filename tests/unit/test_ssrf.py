"""SSRF guard: static URL checks and checked name resolution (no network traffic)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.ingest.links import DomainRule, clean_domain, normalise_url
from shield_rag.ingest.ssrf import (
    SSRFError,
    blocked_reason,
    check_submitted_url,
    normalise_host,
    resolve_checked,
    validate_url,
)
from shield_rag.settings import CrawlSettings

LOCAL = ["127.0.0.0/8"]


# --- accepted URLs and normalisation --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a?b=1#frag", "http://example.com/a?b=1"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://b\u00fccher.de/", "http://xn--bcher-kva.de/"),
        ("http://93.184.216.34/", "http://93.184.216.34/"),
        ("http://[2606:4700:0::1]:8080/p", "http://[2606:4700::1]:8080/p"),
        ("  https://docs.example.org/guide  ", "https://docs.example.org/guide"),
        ("http://my_host.example.com/", "http://my_host.example.com/"),
    ],
)
def test_valid_urls_are_normalised(url: str, expected: str) -> None:
    assert validate_url(url) == expected


def test_ssrf_error_is_permanent() -> None:
    assert issubclass(SSRFError, PermanentJobError)


# --- refused URL shapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://example.com/file", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://example.com:70/", "scheme 'gopher'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("example.com/page", "scheme 'none'"),
        ("http://user:pass@example.com/", "user information"),
        ("http://user@example.com/", "user information"),
        ("http:///path-only", "has no host"),
        ("http://example.com:99999/", "not valid"),
        ("http://example.com:0/", "port 0"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\r\nX-Injected: 1", "whitespace or control"),
        ("http://%31%32%37.0.0.1/", "not allowed in a host name"),
        ("http://exa%2Emple.com/", "not allowed in a host name"),
        ("http://[not-an-ip]/", "not valid"),
        ("http://[fe80::1%25eth0]/", "zone index"),
        ("", "empty"),
    ],
)
def test_malformed_urls_are_refused(url: str, needle: str) -> None:
    with pytest.raises(SSRFError) as err:
        validate_url(url)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("host", "meaning"),
    [
        ("2130706433", "127.0.0.1"),  # decimal integer
        ("0x7f000001", "127.0.0.1"),  # hexadecimal integer
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),  # hexadecimal parts
        ("0177.0.0.1", "127.0.0.1"),  # octal part
        ("0177.0000.0000.0001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short form
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("012.0.0.1", "10.0.0.1"),
        ("167772161", "10.0.0.1"),
        ("3232235521", "192.168.0.1"),
        ("0", "0.0.0.0"),
    ],
)
@pytest.mark.parametrize("allowed", [[], LOCAL, ["0.0.0.0/0"]])
def test_non_canonical_ipv4_forms_are_refused(host: str, meaning: str, allowed: list[str]) -> None:
    # Refused even when the network is allowed: the operator must write the address plainly.
    with pytest.raises(SSRFError, match="non-canonical or ambiguous IPv4 form") as err:
        validate_url(f"http://{host}/", allowed)
    assert f"read as {meaning}" in str(err.value)


def test_hex_looking_last_label_is_treated_as_ip() -> None:
    with pytest.raises(SSRFError, match="ambiguous IPv4 form"):
        validate_url("http://example.0x10/")


def test_fullwidth_digits_are_decoded_then_checked() -> None:
    with pytest.raises(SSRFError, match=r"127\.0\.0\.1 is a loopback address"):
        validate_url("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/")


@pytest.mark.parametrize("allowed", [[], LOCAL])
@pytest.mark.parametrize(
    "host", ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:10.0.0.1]", "[::ffff:8.8.8.8]"]
)
def test_ipv4_mapped_ipv6_is_refused(host: str, allowed: list[str]) -> None:
    with pytest.raises(SSRFError, match="IPv4-mapped IPv6 address"):
        validate_url(f"http://{host}/", allowed)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("10.255.255.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata service
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("255.255.255.255", "a private address"),
        ("192.0.2.10", "a private address"),  # documentation range
        ("198.18.0.1", "a private address"),  # benchmarking range
        ("[::1]", "a loopback address"),
        ("[::]", "an unspecified address"),
        ("[fe80::1]", "a link-local address"),
        ("[fc00::1]", "a private address"),
        ("[fd12:3456::1]", "a private address"),
        ("[fec0::1]", "a site-local address"),
        ("[ff02::1]", "a multicast address"),
        ("[2001:db8::1]", "a private address"),
        ("[2002:a00:1::]", "6to4 IPv6 address embedding 10.0.0.1, a private address"),
        ("[2002:7f00:1::]", "6to4 IPv6 address embedding 127.0.0.1, a loopback address"),
        ("[2002:a9fe:a9fe::]", "embedding 169.254.169.254, a link-local address"),
        ("[64:ff9b::a00:1]", "NAT64 IPv6 address embedding 10.0.0.1, a private address"),
        ("[64:ff9b::7f00:1]", "NAT64 IPv6 address embedding 127.0.0.1"),
        ("[64:ff9b:1::a00:1]", "local-use NAT64 address"),
        ("[::7f00:1]", "deprecated IPv4-compatible"),
        ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"),
        ("[100::1]", "a private address"),  # discard-only
    ],
)
def test_non_global_literals_are_refused_with_the_reason(host: str, reason: str) -> None:
    with pytest.raises(SSRFError) as err:
        validate_url(f"http://{host}:8080/path")
    message = str(err.value)
    assert reason in message
    assert "crawl.allowed_networks" in message


def test_allowed_networks_open_exactly_their_range() -> None:
    assert validate_url("http://127.0.0.1:8080/x", LOCAL) == "http://127.0.0.1:8080/x"
    assert validate_url("http://10.1.2.3/", ["10.0.0.0/8"]) == "http://10.1.2.3/"
    assert validate_url("http://[fd00::5]/", ["fd00::/8"]) == "http://[fd00::5]/"
    assert validate_url("http://[2002:a00:1::]/", ["10.0.0.0/8"]) == "http://[2002:a00:1::]/"
    with pytest.raises(SSRFError, match=r"10\.1\.2\.3 is a private address"):
        validate_url("http://10.1.2.3/", LOCAL)
    with pytest.raises(SSRFError, match=r"192\.168\.0\.1"):
        validate_url("http://192.168.0.1/", ["10.0.0.0/8", "fd00::/8"])


def test_unspecified_address_is_never_allowed() -> None:
    with pytest.raises(SSRFError, match="unspecified"):
        validate_url("http://0.0.0.0/", ["0.0.0.0/0"])
    with pytest.raises(SSRFError, match="unspecified"):
        validate_url("http://[::]/", ["::/0"])


def test_bad_allowed_network_is_reported() -> None:
    with pytest.raises(ValueError, match="not a CIDR"):
        validate_url("http://example.com/", ["10.0.0.0/33"])


def test_default_settings_refuse_loopback() -> None:
    with pytest.raises(SSRFError, match="loopback"):
        validate_url("http://127.0.0.1:8600/", CrawlSettings().allowed_networks)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("10.0.0.1", "a private address"),
        ("::ffff:10.0.0.1", "IPv4-mapped IPv6 address embedding 10.0.0.1, a private address"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_blocked_reason(address: str, expected: str | None) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


# --- resolve_checked -------------------------------------------------------------------------

Resolver = Callable[..., list[tuple[int, int, int, str, tuple[str, int]]]]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Replace socket.getaddrinfo: names map to fixed answers; nothing leaves the machine."""
    answers: dict[str, object] = {}
    calls: list[str] = []

    def fake(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        calls.append(host)
        answer = answers.get(host)
        if isinstance(answer, socket.gaierror):
            raise answer
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in answer:  # type: ignore[union-attr]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    answers["__calls__"] = calls
    return answers


async def test_global_answers_are_returned_deduplicated(dns: dict[str, object]) -> None:
    dns["public.test"] = ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]
    got = await resolve_checked("public.test", 443)
    assert got == [
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:2800:220:1::1"),
    ]


@pytest.mark.parametrize(
    ("answers", "needle"),
    [
        (["10.0.0.5"], "host mixed.test resolves to 10.0.0.5, a private address"),
        (["93.184.216.34", "10.0.0.5"], "resolves to 10.0.0.5, a private address"),
        (["93.184.216.34", "fe80::1"], "resolves to fe80::1, a link-local address"),
        (["127.0.0.1"], "a loopback address"),
        (["::ffff:169.254.169.254"], "embedding 169.254.169.254, a link-local address"),
        (["100.100.100.200"], "carrier-grade NAT"),
        (["0.0.0.0"], "unspecified"),
    ],
)
async def test_any_non_global_answer_refuses_the_host(
    dns: dict[str, object], answers: list[str], needle: str
) -> None:
    dns["mixed.test"] = answers
    with pytest.raises(SSRFError) as err:
        await resolve_checked("mixed.test", 80)
    assert needle in str(err.value)
    assert "crawl.allowed_networks" in str(err.value)


async def test_allowed_networks_let_resolved_addresses_through(dns: dict[str, object]) -> None:
    dns["intranet.test"] = ["10.20.30.40", "::ffff:10.20.30.41"]
    got = await resolve_checked("intranet.test", 80, ["10.0.0.0/8"])
    assert [str(ip) for ip in got] == ["10.20.30.40", "::ffff:a14:1e29"]


async def test_localhost_is_refused_by_default(dns: dict[str, object]) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    with pytest.raises(SSRFError, match=r"host localhost resolves to 127\.0\.0\.1, a loopback"):
        await resolve_checked("localhost", 80, CrawlSettings().allowed_networks)


async def test_ip_literals_skip_dns(dns: dict[str, object]) -> None:
    assert await resolve_checked("127.0.0.1", 80, LOCAL) == [ipaddress.ip_address("127.0.0.1")]
    assert await resolve_checked("[2606:4700::1]", 80) == [ipaddress.ip_address("2606:4700::1")]
    with pytest.raises(SSRFError, match=r"10\.0\.0\.1 is a private address"):
        await resolve_checked("10.0.0.1", 80)
    assert dns["__calls__"] == []


async def test_unknown_name_is_permanent(dns: dict[str, object]) -> None:
    with pytest.raises(PermanentJobError, match="does not resolve") as err:
        await resolve_checked("nxdomain.test", 80)
    assert not isinstance(err.value, SSRFError)


async def test_temporary_dns_failure_is_transient(dns: dict[str, object]) -> None:
    dns["flaky.test"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    with pytest.raises(TransientJobError, match=r"DNS lookup of flaky\.test failed"):
        await resolve_checked("flaky.test", 80)


# --- at submission: names resolved at once, one host form everywhere ------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.ORG.", "example.org"),
        ("localhost.", "localhost"),
        ("B\u00dcCHER.de.", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_host_names_have_one_form(raw: str, expected: str) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize("raw", ["example..org", ".example.org", "example.org..", ".", "a b"])
def test_empty_labels_are_refused(raw: str) -> None:
    with pytest.raises(SSRFError, match="not allowed in a host name"):
        normalise_host(raw)


def test_the_root_dot_case_and_idna_compare_equal_everywhere() -> None:
    assert validate_url("http://LocalHost./a") == "http://localhost/a"
    assert normalise_url("http://Example.org./x") == "http://example.org/x"
    assert clean_domain("B\u00fccher.DE.") == "xn--bcher-kva.de"
    rule = DomainRule(None, "example.org.")
    assert rule.allows("http://EXAMPLE.org/page")
    assert rule.allows("http://example.org./page")
    suffix = DomainRule(["b\u00fccher.de"], "")
    assert suffix.allows("http://www.xn--bcher-kva.de./")
    assert not suffix.allows("http://xn--bcher-kva.de.evil.test/")


async def test_a_name_resolving_to_a_refused_range_is_refused_at_submission(
    dns: dict[str, object],
) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    for url in ("http://localhost/", "http://localhost./", "http://LOCALHOST.:8080/x"):
        with pytest.raises(SSRFError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
            await check_submitted_url(url, CrawlSettings().allowed_networks)
    # The trailing dot was dropped before the lookup: one name, one answer.
    assert set(dns["__calls__"]) == {"localhost"}  # type: ignore[arg-type]


async def test_submission_normalises_and_passes_allowed_names(dns: dict[str, object]) -> None:
    dns["docs.example.test"] = ["93.184.216.34"]
    got = await check_submitted_url("HTTPS://Docs.Example.TEST./guide#x")
    assert got == "https://docs.example.test/guide"
    dns["intranet.test"] = ["10.1.2.3"]
    assert await check_submitted_url("http://intranet.test/", ["10.0.0.0/8"])


async def test_a_name_that_does_not_exist_is_refused_at_submission(
    dns: dict[str, object],
) -> None:
    with pytest.raises(SSRFError, match=r"nxdomain\.test does not resolve.*nothing was queued"):
        await check_submitted_url("http://nxdomain.test/")


async def test_a_passing_dns_failure_leaves_the_check_to_the_worker(
    dns: dict[str, object],
) -> None:
    dns["flaky.test"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert await check_submitted_url("http://flaky.test/a") == "http://flaky.test/a"
