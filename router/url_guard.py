"""Which `image_url`s may be fetched: scheme, userinfo, host spelling and public addresses only.

A URL is refused (BadRequest `url_not_allowed`) unless the scheme is http/https; there is no
userinfo; the host is a DNS name or a canonical IP literal (decimal/hex/octal/short IPv4
spellings are refused); and every address the name resolves to is public (see
BLOCKED_NETWORKS, plus IPv6 forms that embed an IPv4 address). `router.fetch` applies these
checks to the first URL and to every redirect hop.
"""

import ipaddress
import re
from collections.abc import Sequence

from yarl import URL

from common.errors import BadRequest

SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", incl. 0.0.0.0
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255
        "::/8",  # unspecified, loopback, IPv4-compatible (::a.b.c.d), IPv4-mapped; not NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DNS_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def refuse(message: str) -> BadRequest:
    """A url_not_allowed error."""
    return BadRequest(f"image_url not allowed: {message}", "url_not_allowed")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translation form carries (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_allowed(ip: IPAddress, allow_networks: Sequence[IPNetwork] = ()) -> bool:
    """Whether connecting to `ip` is allowed: public, or inside an explicitly exempted network."""
    if any(ip.version == net.version and ip in net for net in allow_networks):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = embedded_ipv4(ip)
        if ip in NAT64 and inner is not None:
            return address_allowed(inner)  # DNS64 networks: public IPv4 through NAT64 only
        if inner is not None and not address_allowed(inner):
            return False
    if any(ip.version == net.version and ip in net for net in BLOCKED_NETWORKS):
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse_host(host: str) -> IPAddress | str:
    """The host as an IP address (canonical literals only) or a lower-case DNS name."""
    host = host.lower().rstrip(".")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise refuse("malformed IPv6 literal") from None
    labels = host.split(".")
    if labels and _NUMERIC_LABEL.match(labels[-1]):
        # WHATWG: a host ending in a number is an IPv4 address; accept only dotted-quad decimal
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            raise refuse("IPv4 address is not in canonical dotted-quad form") from None
        return ip
    if not host or len(host) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
        raise refuse("host is not a valid DNS name")
    return host


def vet_url(url: URL, allow_hosts: frozenset[str]) -> IPAddress | str:
    """Check scheme, userinfo, host spelling and the allow-list; the parsed host."""
    if url.scheme not in SCHEMES:
        raise refuse(f"scheme {url.scheme!r} is not one of {sorted(SCHEMES)}")
    if url.user is not None or url.password is not None or "@" in (url.raw_authority or ""):
        raise refuse("credentials in URLs are not allowed")
    if not url.raw_host or url.port is None:
        raise refuse("URL has no host")
    host = parse_host(url.raw_host)
    if allow_hosts and str(host) not in allow_hosts:
        raise refuse(f"host {host} is not on the allow-list")
    return host
