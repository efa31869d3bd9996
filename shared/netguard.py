"""Keep user-supplied URLs (source images, webhooks) away from internal addresses (SSRF).

Two layers, both needed:

- `check_url` before every request, including each redirect hop: scheme, host syntax, and
  IP-literal hosts (aiohttp never passes those to the resolver);
- `GuardedResolver`, installed in the session's connector by `make_session`: every DNS answer
  is filtered here, and aiohttp connects to exactly the addresses it returns, so there is no
  second lookup an attacker could rebind.

Loopback, private, link-local, shared (CGNAT), multicast, reserved and documentation ranges are
refused, also when embedded in IPv6 (mapped, NAT64, 6to4), unless the allow list
(settings.fetch_allow) exempts them: by network (FETCH_ALLOW_CIDRS), or for every address a
listed host name resolves to (FETCH_ALLOW_HOSTS). Cloud metadata endpoints are refused even then.
"""

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from shared.settings import Allowlist, IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
NO_EXEMPTIONS = Allowlist()
METADATA = "cloud metadata"

_N = ipaddress.ip_network

# Refused even when inside an allowed network: nothing legitimate serves images from them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer (a public address, hence listed)
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)

_V4_BLOCKED = (
    (_N("0.0.0.0/8"), "unspecified"),
    (_N("10.0.0.0/8"), "private"),
    (_N("100.64.0.0/10"), "carrier-grade NAT"),
    (_N("127.0.0.0/8"), "loopback"),
    (_N("169.254.0.0/16"), "link-local"),
    (_N("172.16.0.0/12"), "private"),
    (_N("192.0.0.0/24"), "reserved"),
    (_N("192.0.2.0/24"), "documentation"),
    (_N("192.88.99.0/24"), "reserved"),
    (_N("192.168.0.0/16"), "private"),
    (_N("198.18.0.0/15"), "reserved"),
    (_N("198.51.100.0/24"), "documentation"),
    (_N("203.0.113.0/24"), "documentation"),
    (_N("224.0.0.0/4"), "multicast"),
    (_N("240.0.0.0/4"), "reserved"),  # includes 255.255.255.255
)

_V6_BLOCKED = (
    (_N("::/128"), "unspecified"),
    (_N("::1/128"), "loopback"),
    (_N("::/96"), "IPv4-compatible"),  # deprecated; never a real destination
    (_N("64:ff9b:1::/48"), "reserved"),  # local-use NAT64
    (_N("100::/64"), "reserved"),  # discard-only
    (_N("2001::/32"), "Teredo"),  # the client address is obfuscated; refuse outright
    (_N("2001::/23"), "reserved"),
    (_N("2001:db8::/32"), "documentation"),
    (_N("fc00::/7"), "private"),  # unique local
    (_N("fe80::/10"), "link-local"),
    (_N("fec0::/10"), "private"),  # deprecated site-local
    (_N("ff00::/8"), "multicast"),
)

_NAT64 = _N("64:ff9b::/96")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


class BlockedURL(ValueError):
    """This URL may not be fetched; the message says why, in words fit for the user."""


def _embedded_v4(addr: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr.sixtofour


def _classify(addr: IPAddress) -> str | None:
    table = _V4_BLOCKED if isinstance(addr, ipaddress.IPv4Address) else _V6_BLOCKED
    for network, label in table:
        if addr in network:
            return label
    # Backstop for ranges the tables miss; the tables come first for their clearer labels.
    return None if addr.is_global else "not globally routable"


def blocked_reason(ip: str | IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why `ip` may not be contacted ("loopback", "private", ...), or None if it may."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    inner = _embedded_v4(addr)
    if addr in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
        return METADATA
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    for candidate in (addr, mapped):
        if candidate is not None and any(
            candidate.version == net.version and candidate in net for net in allow
        ):
            return None
    # An IPv6 form of an IPv4 address is judged by the address it stands for.
    return _classify(inner if inner is not None else addr)


def address_allowed(ip: str | IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """True if connecting to `ip` is permitted; `allow` lists networks exempt from the policy."""
    return blocked_reason(ip, allow) is None


def host_blocked_reason(host: str, ip: str | IPAddress, allow: Allowlist) -> str | None:
    """Why `ip`, an address `host` resolved to, may not be contacted, or None if it may.

    A listed host name may reach any address but a metadata endpoint: its operator vouched
    for the name, not for a metadata service it might be pointed at.
    """
    reason = blocked_reason(ip, allow.networks)
    if reason is None or reason == METADATA or not allow.covers_host(host):
        return reason
    return None


def check_url(url: str | URL, allow: Allowlist = NO_EXEMPTIONS) -> URL:
    """Parse and vet a URL before requesting it; raise BlockedURL if it may not be fetched.

    Hostnames are vetted later, by the session's resolver; IP-literal hosts are vetted here
    (against the allowed networks only: FETCH_ALLOW_HOSTS lists names, not addresses).
    URLs carrying credentials are refused: they would be sent along and could leak in logs.
    """
    try:
        parsed = URL(url.strip()) if isinstance(url, str) else url
    except ValueError as exc:
        raise BlockedURL(f"invalid URL: {exc}") from None
    if not parsed.scheme:
        raise BlockedURL("invalid URL: no scheme (expected http:// or https://)")
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise BlockedURL(f"unsupported URL scheme {parsed.scheme!r}")
    host = parsed.host
    if not host or parsed.raw_host is None:
        raise BlockedURL("invalid URL: no host")
    if parsed.user is not None or parsed.password is not None:
        raise BlockedURL("invalid URL: embedded credentials are not allowed")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raw = parsed.raw_host.lower()
        if not _HOSTNAME.fullmatch(raw):
            raise BlockedURL(f"invalid URL: bad host {host!r}") from None
        if _NUMERIC_LABEL.fullmatch(raw.rstrip(".").rsplit(".", 1)[-1]):
            # 127.1, 2130706433, 0x7f.1: legacy spellings resolvers turn into addresses.
            raise BlockedURL(f"invalid URL: non-canonical IP address {host!r}") from None
        return parsed
    reason = blocked_reason(addr, allow.networks)
    if reason is not None:
        raise BlockedURL(f"blocked address {addr} ({reason})")
    return parsed


class GuardedResolver(AbstractResolver):
    """Resolve through `inner`, keeping only addresses the policy allows.

    Raises BlockedURL when every address is refused. aiohttp connects only to what this
    returns, so the vetted address is the one used.
    """

    def __init__(
        self, allow: Allowlist = NO_EXEMPTIONS, inner: AbstractResolver | None = None
    ) -> None:
        self._allow = allow
        # The system resolver (getaddrinfo, /etc/hosts), never aiodns: TCPConnector does not
        # close a resolver it was given, and this one holds nothing to close.
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"no addresses found for {host!r}")
        kept: list[ResolveResult] = []
        refused: list[tuple[str, str]] = []
        for result in results:
            reason = host_blocked_reason(host, result["host"], self._allow)
            if reason is None:
                kept.append(result)
            else:
                refused.append((result["host"], reason))
        if not kept:
            address, reason = refused[0]
            raise BlockedURL(f"blocked address {address} ({reason}) for host {host!r}")
        if refused:
            log.info("%s: dropped blocked addresses %s", host, refused)
        return kept

    async def close(self) -> None:
        await self._inner.close()


async def check_host(url: str, allow: Allowlist = NO_EXEMPTIONS) -> None:
    """Resolve a vetted URL's host now and refuse it if every address is blocked.

    For checks ahead of time (a webhook URL at upload): the connection itself is vetted again
    by GuardedResolver, since DNS answers may change. A name that does not exist is refused;
    a lookup that merely fails (DNS down) is let through, to be vetted at delivery.
    """
    parsed = check_url(url, allow)
    host = parsed.raw_host or ""
    try:
        ipaddress.ip_address(host)
        return  # a literal address: check_url vetted it
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port or 80)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise BlockedURL(f"host not found: {host}") from None
        return
    addresses = [str(info[4][0]) for info in infos]
    reasons = [(address, host_blocked_reason(host, address, allow)) for address in addresses]
    if all(reason for _, reason in reasons):
        address, reason = reasons[0]
        raise BlockedURL(f"blocked address {address} ({reason}) for host {host!r}")


def make_session(
    allow: Allowlist,
    timeout_s: float,
    *,
    limit: int = 100,
    limit_per_host: int = 4,
    user_agent: str = "imgpipe/0.1",
    resolver: AbstractResolver | None = None,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> aiohttp.ClientSession:
    """Build the one HTTP client session a process uses for user-supplied URLs.

    Call inside the running event loop, once per process, and close it on shutdown. Each
    request is bounded by `timeout_s` overall and between reads. `resolver` replaces the
    system resolver underneath the guard (tests). Redirects must be followed by the caller,
    re-checking each Location with `check_url`. `allow` must be the list the caller passes to
    `check_url` too (settings.fetch_allow).
    """
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow, resolver),
        limit=limit,
        # A few parallel downloads per host: fast enough, and polite to small origin servers.
        limit_per_host=limit_per_host,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s, sock_read=timeout_s),
        headers={"User-Agent": user_agent},
        # A proxy would resolve names itself, out of the guard's reach: ignore proxy env vars.
        trust_env=False,
        trace_configs=list(trace_configs),
    )
