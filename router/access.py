"""Access policy evaluation: globs, IP conditions, statements and the Deny > Allow evaluator.

Policy documents arrive already parsed (`router.access_policy` validates the JSON); this
module works only on the frozen dataclasses.

Actions match case-insensitively, resources and principals case-sensitively; all three take
`*` (any run) and `?` (one character) wildcards. A statement without Principal applies to
every caller. Within Condition, operators and keys are ANDed and the CIDRs listed under one
key are ORed.

Evaluation: an explicit Deny wins over any Allow; without a matching Allow the request is
implicitly denied; with no policies configured at all everything is allowed (the router
restricts that case to loopback callers).

Unparseable source IPs fail closed: an IP condition can then never be proven either way, so
on an Allow statement it counts as *not* satisfied (no grant) and on a Deny statement it
counts as satisfied (the deny applies) -- for both ``IpAddress`` and ``NotIpAddress``.

IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) and networks inside ``::ffff:0:0/96`` are
compared as IPv4. A bare address in a condition means /32 or /128; a CIDR with host bits
set (``10.0.0.1/8``) is rejected as a likely mistake.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class Glob:
    """A `*`/`?` wildcard pattern, compiled once."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, text: str, ignore_case: bool = False) -> Glob:
        """Compile a wildcard pattern where `*` is any run and `?` any one character."""
        body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
        return cls(text, re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL))

    def matches(self, value: str) -> bool:
        """Whether the whole value matches this pattern."""
        return self.regex.fullmatch(value) is not None


@dataclass(frozen=True)
class IpCondition:
    """One source-IP condition: the address must (or, negated, must not) be in a network."""

    networks: tuple[IpNetwork, ...]
    negate: bool

    def holds(self, source: IpAddr | None, effect: str) -> bool:
        """Evaluate the condition; an unknown source fails closed for the given effect."""
        if source is None:
            return effect == "Deny"
        inside = any(source.version == n.version and source in n for n in self.networks)
        return inside != self.negate


@dataclass(frozen=True)
class Statement:
    """One Allow/Deny statement; `principals` None means any caller."""

    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[Glob, ...]
    resources: tuple[Glob, ...]
    principals: tuple[Glob, ...] | None
    conditions: tuple[IpCondition, ...]

    def applies(self, request: AccessRequest, source: IpAddr | None) -> bool:
        """Whether this statement matches the request (action, resource, principal, IP)."""
        return (
            any(g.matches(request.action) for g in self.actions)
            and any(g.matches(request.resource) for g in self.resources)
            and (
                self.principals is None
                or any(g.matches(request.principal) for g in self.principals)
            )
            and all(c.holds(source, self.effect) for c in self.conditions)
        )


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed, validated policy document."""

    version: str
    statements: tuple[Statement, ...]
    id: str | None = None


@dataclass(frozen=True)
class AccessRequest:
    """Who wants to do what to which resource, from where."""

    principal: str
    action: str
    resource: str
    source_ip: str


@dataclass(frozen=True)
class AccessDecision:
    """The outcome of an evaluation and the statement that decided it, if any."""

    allowed: bool
    reason: str
    statement_id: str | None


def normalize_ip(value: str) -> IpAddr | None:
    """Parse an address, unwrapping IPv4-mapped IPv6; None if it is not an address."""
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_network(value: str) -> IpNetwork:
    """Parse a CIDR or bare address (a /32 or /128), mapping ::ffff:0:0/96 networks to IPv4."""
    net = ipaddress.ip_network(value.strip(), strict=True)
    if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(_IPV4_MAPPED):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


class AccessEvaluator:
    """Evaluates access requests against a fixed set of policy documents."""

    def __init__(self, policies: Sequence[PolicyDocument]) -> None:
        self._statements: tuple[Statement, ...] = tuple(
            s for policy in policies for s in policy.statements
        )
        self._configured = bool(policies)

    def evaluate(self, request: AccessRequest) -> AccessDecision:
        """Decide a request: explicit Deny > Allow > implicit deny; no policies -> allow."""
        if not self._configured:
            return AccessDecision(True, "no access policies configured", None)
        source = normalize_ip(request.source_ip)
        allow: Statement | None = None
        for statement in self._statements:
            if not statement.applies(request, source):
                continue
            if statement.effect == "Deny":
                return AccessDecision(False, f"explicitly denied by {statement.sid}", statement.sid)
            allow = allow or statement
        if allow is not None:
            return AccessDecision(True, f"allowed by {allow.sid}", allow.sid)
        return AccessDecision(
            False,
            f"no statement allows {request.action} on {request.resource} for this caller",
            None,
        )
