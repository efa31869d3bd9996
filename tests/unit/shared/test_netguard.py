"""The SSRF address policy, URL vetting and the guarded resolver (no network needed)."""

import ipaddress
import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from shared.netguard import (
    BlockedURL,
    GuardedResolver,
    address_allowed,
    blocked_reason,
    check_host,
    check_url,
    host_blocked_reason,
    make_session,
)
from shared.settings import Allowlist

LOOPBACK_V4 = (ipaddress.ip_network("127.0.0.0/8"),)
# FETCH_ALLOW_HOSTS=images.internal,*.cdn.internal (no CIDRs).
HOSTS = Allowlist(hosts=("images.internal", "*.cdn.internal"))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "reserved"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_blocked_addresses(address: str, reason: str) -> None:
    assert blocked_reason(address) == reason
    assert not address_allowed(address)
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "100.63.255.255",  # just below carrier-grade NAT
        "172.32.0.1",  # just above 172.16.0.0/12
        "2606:4700::1",
        "2a00:1450:4001::1",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_public_addresses_allowed(address: str) -> None:
    assert blocked_reason(address) is None
    assert address_allowed(address)


def test_allow_list_overrides_policy() -> None:
    assert address_allowed("127.0.0.1", LOOPBACK_V4)
    assert address_allowed("::ffff:127.0.0.1", LOOPBACK_V4)
    assert not address_allowed("::1", LOOPBACK_V4)
    assert not address_allowed("10.0.0.1", LOOPBACK_V4)
    assert address_allowed("::1", (ipaddress.ip_network("::1/128"),))
    narrow = (ipaddress.ip_network("10.1.0.0/16"),)
    assert address_allowed("10.1.2.3", narrow)
    assert blocked_reason("10.2.0.1", narrow) == "private"


@pytest.mark.parametrize("allowed", ["169.254.0.0/16", "0.0.0.0/0", "fd00::/8"])
def test_metadata_blocked_even_when_allowed(allowed: str) -> None:
    allow = (ipaddress.ip_network(allowed),)
    for address in ("169.254.169.254", "fd00:ec2::254"):
        if ipaddress.ip_address(address).version == allow[0].version:
            assert blocked_reason(address, allow) == "cloud metadata"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.jpg", "unsupported URL scheme 'ftp'"),
        ("javascript:alert(1)", "unsupported URL scheme 'javascript'"),
        ("file:///etc/passwd", "unsupported URL scheme 'file'"),
        ("data:image/png;base64,AAAA", "unsupported URL scheme 'data'"),
        ("example.com/a.jpg", "invalid URL: no scheme (expected http:// or https://)"),
        ("", "invalid URL: no scheme (expected http:// or https://)"),
        ("http://", "invalid URL: no host"),
        ("http:///a.jpg", "invalid URL: no host"),
        ("http://a.com:99999/", "invalid URL: Port out of range 0-65535"),
        ("http://user:pw@example.com/", "invalid URL: embedded credentials are not allowed"),
        ("http://exa mple.com/", "invalid URL: bad host 'exa mple.com'"),
        ("http://2130706433/", "invalid URL: non-canonical IP address '2130706433'"),
        ("http://127.1/", "invalid URL: non-canonical IP address '127.1'"),
        ("http://0x7f.0.0.1/", "invalid URL: non-canonical IP address '0x7f.0.0.1'"),
        ("http://0177.0.0.1/", "invalid URL: non-canonical IP address '0177.0.0.1'"),
        ("http://127.0.0.1./", "invalid URL: non-canonical IP address '127.0.0.1.'"),
        ("http://10.0.0.1:8080/x", "blocked address 10.0.0.1 (private)"),
        ("http://169.254.169.254/latest/", "blocked address 169.254.169.254 (cloud metadata)"),
        ("http://[::1]/", "blocked address ::1 (loopback)"),
        ("http://[::ffff:127.0.0.1]/", "blocked address ::ffff:7f00:1 (loopback)"),
        ("http://[fe80::1%25eth0]/", "blocked address fe80::1%eth0 (link-local)"),
    ],
)
def test_check_url_refuses(url: str, message: str) -> None:
    with pytest.raises(BlockedURL) as info:
        check_url(url)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a.jpg", "https://example.com/a.jpg"),
        ("  HTTP://Example.COM:8080/a.jpg?x=1  ", "http://example.com:8080/a.jpg?x=1"),
        ("http://93.184.216.34/x.png", "http://93.184.216.34/x.png"),
        ("http://[2606:4700::1]/x.png", "http://[2606:4700::1]/x.png"),
        ("http://images.example.com./x.png", "http://images.example.com./x.png"),
    ],
)
def test_check_url_accepts(url: str, expected: str) -> None:
    assert str(check_url(url)) == expected


def test_check_url_allow_list() -> None:
    assert check_url("http://127.0.0.1:8000/a.jpg", Allowlist(LOOPBACK_V4)).host == "127.0.0.1"
    with pytest.raises(BlockedURL, match=r"^blocked address 127\.0\.0\.1 \(loopback\)$"):
        check_url("http://127.0.0.1:8000/a.jpg")


@pytest.mark.parametrize(
    "host", ["images.internal", "IMAGES.Internal.", "a.cdn.internal", "x.y.cdn.internal"]
)
@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "fd00::1", "::ffff:192.168.1.1"])
def test_listed_host_may_reach_blocked_addresses(host: str, address: str) -> None:
    assert blocked_reason(address) is not None
    assert host_blocked_reason(host, address, HOSTS) is None


@pytest.mark.parametrize(
    "host",
    [
        "other.internal",
        "images.internal.evil.test",  # a suffix match only counts after a dot
        "eimages.internal",
        "cdn.internal",  # "*.cdn.internal" covers subdomains, not the domain itself
        "acdn.internal",
    ],
)
def test_unlisted_host_keeps_the_policy(host: str) -> None:
    assert host_blocked_reason(host, "10.0.0.1", HOSTS) == "private"
    assert host_blocked_reason(host, "127.0.0.1", HOSTS) == "loopback"


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"])
def test_listed_host_never_reaches_metadata(address: str) -> None:
    for host in ("images.internal", "a.cdn.internal"):
        assert host_blocked_reason(host, address, HOSTS) == "cloud metadata"


def test_host_list_does_not_cover_address_literals() -> None:
    """FETCH_ALLOW_HOSTS is about names; a literal address is judged by the networks alone."""
    with pytest.raises(BlockedURL, match=r"^blocked address 10\.0\.0\.1 \(private\)$"):
        check_url("http://10.0.0.1/a.jpg", HOSTS)
    assert check_url("http://a.cdn.internal/a.jpg", HOSTS).host == "a.cdn.internal"


class FakeResolver(AbstractResolver):
    """Answers from a table: a list of addresses, or an exception to raise."""

    def __init__(self, table: dict[str, list[str] | Exception]) -> None:
        self.table = table
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answer = self.table[host]
        if isinstance(answer, Exception):
            raise answer
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in answer
        ]

    async def close(self) -> None:
        self.closed = True


async def test_resolver_drops_blocked_addresses() -> None:
    inner = FakeResolver({"mixed.test": ["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1"]})
    results = await GuardedResolver(inner=inner).resolve("mixed.test", 80)
    assert [r["host"] for r in results] == ["93.184.216.34", "2606:4700::1"]


async def test_resolver_refuses_when_nothing_remains() -> None:
    inner = FakeResolver({"internal.test": ["10.0.0.1", "fd00::1"]})
    with pytest.raises(BlockedURL) as info:
        await GuardedResolver(inner=inner).resolve("internal.test", 80)
    assert str(info.value) == "blocked address 10.0.0.1 (private) for host 'internal.test'"


async def test_resolver_empty_answer_is_a_lookup_failure() -> None:
    with pytest.raises(OSError, match="no addresses"):
        await GuardedResolver(inner=FakeResolver({"none.test": []})).resolve("none.test", 80)


async def test_resolver_closes_inner() -> None:
    inner = FakeResolver({})
    await GuardedResolver(inner=inner).close()
    assert inner.closed


async def test_localhost_refused_unless_allowed() -> None:
    """The real system resolver: "localhost" maps to loopback."""
    with pytest.raises(BlockedURL, match=r"^blocked address 127\.0\.0\.1 \(loopback\) for host"):
        await GuardedResolver().resolve("localhost", 80)
    results = await GuardedResolver(Allowlist(LOOPBACK_V4)).resolve("localhost", 80)
    assert results and all(r["host"].startswith("127.") for r in results)


async def test_resolver_trusts_listed_hosts_only() -> None:
    inner = FakeResolver(
        {
            "images.internal": ["10.0.0.1", "169.254.169.254"],
            "a.cdn.internal": ["127.0.0.1"],
            "other.internal": ["10.0.0.1"],
            "meta.cdn.internal": ["169.254.169.254"],
        }
    )
    resolver = GuardedResolver(HOSTS, inner)
    assert [r["host"] for r in await resolver.resolve("images.internal", 80)] == ["10.0.0.1"]
    assert [r["host"] for r in await resolver.resolve("a.cdn.internal", 80)] == ["127.0.0.1"]
    with pytest.raises(BlockedURL) as info:
        await resolver.resolve("other.internal", 80)
    assert str(info.value) == "blocked address 10.0.0.1 (private) for host 'other.internal'"
    with pytest.raises(BlockedURL) as info:
        await resolver.resolve("meta.cdn.internal", 80)
    assert str(info.value) == (
        "blocked address 169.254.169.254 (cloud metadata) for host 'meta.cdn.internal'"
    )


async def test_check_host_honours_listed_hosts() -> None:
    """Webhook vetting at upload, with the real system resolver ("localhost" is loopback)."""
    with pytest.raises(BlockedURL, match=r"^blocked address (127\.0\.0\.1|::1) \(loopback\) for"):
        await check_host("http://localhost:9/hook")
    await check_host("http://localhost:9/hook", Allowlist(hosts=("localhost",)))
    with pytest.raises(BlockedURL, match=r"^blocked address 127\.0\.0\.1 \(loopback\)$"):
        await check_host("http://127.0.0.1:9/hook", Allowlist(hosts=("localhost",)))


async def test_make_session() -> None:
    async with make_session(Allowlist(LOOPBACK_V4), 7.5, limit_per_host=2) as session:
        assert session.timeout.total == 7.5
        assert session.timeout.sock_read == 7.5
        assert not session.trust_env
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert session.connector.limit_per_host == 2
