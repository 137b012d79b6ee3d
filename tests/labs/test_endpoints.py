"""Upstream base URL validation: the shape of the URL, and no private addresses."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from labs.endpoints import validate_upstream_base_url
from tests.labs.conftest import fake_resolver

RESOLVER = fake_resolver(
    {
        "api.public.example": ["93.184.216.34"],
        "v6.public.example": ["2606:4700:4700::1111"],
        "dual.public.example": ["93.184.216.34", "2606:4700:4700::1111"],
        "internal.example": ["10.1.2.3"],
        "mixed.example": ["93.184.216.34", "192.168.1.10"],
        "loop.example": ["127.0.0.1"],
        "loop6.example": ["::1"],
        "metadata.example": ["169.254.169.254"],
        "mapped.example": ["::ffff:10.0.0.1"],
        "ula.example": ["fd00::1"],
        "empty.example": [],
    }
)


def check(url: str, allow_private: bool = False) -> str:
    return validate_upstream_base_url(url, allow_private=allow_private, resolve=RESOLVER)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.public.example/v1",
        "http://api.public.example:8080/v1",
        "HTTPS://api.public.example/v1",
        "https://v6.public.example/",
        "https://dual.public.example/",
        "https://93.184.216.34/v1",
        "https://[2606:4700:4700::1111]/v1",
        "https://[::ffff:93.184.216.34]/v1",  # mapped public IPv4 is that IPv4
        "https://api.public.example/v1?region=eu",
    ],
)
def test_public_urls_are_accepted(url: str) -> None:
    assert check(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://api.public.example/", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("javascript:alert(1)", "http and https"),
        ("api.public.example/v1", "http and https"),
        ("https://", "host"),
        ("https:///v1", "host"),
        ("https://user:pass@api.public.example/", "user information"),
        ("https://user@api.public.example/", "user information"),
        ("https://api.public.example/v1#frag", "fragment"),
        ("https://api.public.example/v1#", "fragment"),
        ("https://api.public.example:99999/", "parsed"),
        ("https://api.public.example:port/", "parsed"),
        ("https://api.public .example/", "whitespace"),
        ("https://api.public.example/\nv1", "whitespace"),
        ("", "required"),
        ("   ", "required"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url: str, why: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidInput) as exc:
            check(url, allow_private=allow_private)
        assert list(exc.value.errors) == ["endpoint_base_url"]
        assert why in exc.value.errors["endpoint_base_url"][0]


@pytest.mark.parametrize(
    "url",
    [
        # IPv4 literals
        "http://127.0.0.1:8000/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
        "http://0.0.0.0/",
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://255.255.255.255/",
        "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
        # IPv6 literals
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fd12:3456::1]/",  # unique local
        "http://[ff02::1]/",  # multicast
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "http://[::ffff:10.0.0.1]/",  # IPv4-mapped private
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated, reserved)
        "http://[2002:a00:1::1]/",  # 6to4 wrapping 10.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
        # names
        "http://internal.example/",
        "http://loop.example/",
        "http://loop6.example/",
        "http://metadata.example/",
        "http://mapped.example/",
        "http://ula.example/",
        "http://mixed.example/",  # one private address among public ones is enough
        "http://localhost:8000/",  # not in the resolver: does not resolve, refused
    ],
)
def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check(url)
    assert list(exc.value.errors) == ["endpoint_base_url"]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/v1", "http://[::1]:8000/", "http://internal.example/", "http://localhost:8000/"],
)
def test_private_addresses_are_accepted_when_allowed(url: str) -> None:
    assert check(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["https://nowhere.example/", "https://empty.example/"])
def test_names_that_do_not_resolve_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check(url)
    assert "does not resolve" in exc.value.errors["endpoint_base_url"][0]


def test_resolver_errors_fail_closed() -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise OSError("network unreachable")

    with pytest.raises(InvalidInput):
        validate_upstream_base_url("https://api.public.example/", allow_private=False, resolve=broken)


def test_resolver_is_asked_for_the_host_and_port() -> None:
    calls: list[tuple[object, object]] = []

    def recording(host: str, port: object, *args: object, **kwargs: object) -> list[object]:
        calls.append((host, port))
        return RESOLVER(host, port, *args, **kwargs)

    validate_upstream_base_url("https://api.public.example:8443/v1", allow_private=False, resolve=recording)
    validate_upstream_base_url("http://api.public.example/v1", allow_private=False, resolve=recording)
    assert calls == [("api.public.example", 8443), ("api.public.example", 80)]


def test_ip_literals_do_not_consult_the_resolver() -> None:
    def never(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("resolver called for an IP literal")

    assert validate_upstream_base_url("https://93.184.216.34/", allow_private=False, resolve=never)
