"""The rule for the addresses the services listen on and connect to, as the roles check it on
the controller before any change (the test plugin shield.rag.host_address) and as the
services' settings check reads it (shield_rag.settings.base): the two give the same answer on
every value, and both refuse what no socket could bind to or connect to."""

from __future__ import annotations

import pytest
from plugins.test.addresses import host_address, ip_address
from pydantic import BaseModel, ValidationError

from shield_rag.settings.base import ListenAddress, is_host_address

ADDRESSES = [
    "127.0.0.1",
    "0.0.0.0",
    "10.0.0.5",
    "255.255.255.255",
    "::",
    "::1",
    "fd00::5",
    "fe80::1%eth0",
    "::ffff:10.0.0.5",
]
NAMES = ["localhost", "rag-1.internal", "redis", "shield_redis_1", "a" * 63, "rag.example.org."]
MALFORMED = [
    "",
    " ",
    "10.0.0.5 ",
    "http://0.0.0.0",
    "0.0.0.0:8600",
    "[::1]",
    "[::1]:6333",
    "999.1.1.1",
    "10.0.5",
    "1.2.3.4.5",
    "01.2.3.4",
    ":::",
    "fd00::5::1",
    "-rag.internal",
    "rag-.internal",
    "rag..internal",
    ".",
    "a" * 64,
    ".".join(["a" * 63] * 4),
    "rag/api",
    "rag.internal/",
    "user@rag.internal",
    "ràg.internal",
    "rag\n.internal",
]


@pytest.mark.parametrize("value", ADDRESSES + NAMES + MALFORMED)
def test_the_roles_and_the_services_agree(value: str) -> None:
    expected = value in ADDRESSES or value in NAMES
    assert host_address(value) is expected
    assert is_host_address(value) is expected


@pytest.mark.parametrize("value", ADDRESSES + NAMES + MALFORMED)
def test_an_ip_address_is_one_python_reads_as_such(value: str) -> None:
    assert ip_address(value) is (value in ADDRESSES)


@pytest.mark.parametrize("value", [None, 8600, ["127.0.0.1"]])
def test_a_value_that_is_not_text_is_no_address(value: object) -> None:
    assert host_address(value) is False
    assert ip_address(value) is False


class _Listener(BaseModel):
    host: ListenAddress


@pytest.mark.parametrize("value", ["", *ADDRESSES, *NAMES])
def test_a_service_listens_on_an_address_a_name_or_every_interface(value: str) -> None:
    assert _Listener(host=value).host == value


@pytest.mark.parametrize("value", [v for v in MALFORMED if v])
def test_a_service_refuses_a_listen_address_it_could_not_bind(value: str) -> None:
    with pytest.raises(ValidationError, match="is not an address: give an IP address"):
        _Listener(host=value)
