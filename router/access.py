"""Access control for local apps: IAM-shaped policy documents, evaluation, API keys.

Policy JSON is validated by pydantic models at the boundary (:func:`parse_policy`) and turned
into frozen dataclasses; :class:`AccessEvaluator` works only on those.

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

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

POLICY_VERSION = "2024-01-01"
KNOWN_ACTIONS: tuple[str, ...] = (
    "multimodal:Generate",
    "multimodal:Embed",
    "multimodal:Classify",
    "multimodal:ClassifyImage",
    "multimodal:DetectSpeech",
    "multimodal:Transcribe",
    "multimodal:ListModels",
    "multimodal:Route",
)
RESOURCE_TYPES: tuple[str, ...] = ("model",)
SOURCE_IP_KEYS: tuple[str, ...] = ("aws:SourceIp", "SourceIp")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
_HASH_PREFIX = "sha256:"


POLICY_VERSION = "2024-01-01"


class PolicyError(ValueError):
    """A policy document is invalid; the message lists every problem found."""


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


def _listify(value: str | list[str]) -> list[str]:
    """Accept IAM's 'one string or a list of strings'."""
    return [value] if isinstance(value, str) else value


_ConditionData: TypeAlias = dict[str, dict[str, str | list[str]]]


class _StatementModel(BaseModel):
    """Boundary schema for one statement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    Sid: str | None = None
    Effect: Literal["Allow", "Deny"]
    Action: str | list[str] = Field(min_length=1)
    Resource: str | list[str] = Field(min_length=1)
    Principal: str | list[str] | None = None
    Condition: _ConditionData = Field(default_factory=dict)

    @field_validator("Action")
    @classmethod
    def _check_actions(cls, value: str | list[str]) -> str | list[str]:
        """Reject actions that match none of KNOWN_ACTIONS (typos, other services)."""
        bad = [
            a
            for a in _listify(value)
            if not any(Glob.compile(a, ignore_case=True).matches(k) for k in KNOWN_ACTIONS)
        ]
        if bad:
            raise ValueError(f"actions {bad} match no known action; valid: {list(KNOWN_ACTIONS)}")
        return value

    @field_validator("Resource")
    @classmethod
    def _check_resources(cls, value: str | list[str]) -> str | list[str]:
        """Require '*' or '<known type>/<name glob>'."""
        bad = [
            r
            for r in _listify(value)
            if r != "*" and ("/" not in r or r.split("/", 1)[0] not in RESOURCE_TYPES)
        ]
        if bad:
            raise ValueError(
                f"resources {bad} must be '*' or '<type>/<name>' with type in "
                f"{list(RESOURCE_TYPES)}, e.g. 'model/*'"
            )
        return value

    @field_validator("Principal")
    @classmethod
    def _check_principals(cls, value: str | list[str] | None) -> str | list[str] | None:
        """Reject blank principal ids."""
        if value is not None and not all(p.strip() for p in _listify(value)):
            raise ValueError("principal ids must be non-empty strings")
        return value

    @field_validator("Condition")
    @classmethod
    def _check_conditions(cls, value: _ConditionData) -> _ConditionData:
        """Collect every problem in the Condition block into one error."""
        problems = [
            problem
            for operator, entries in value.items()
            for problem in _condition_problems(operator, entries)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value


def _condition_problems(operator: str, entries: dict[str, str | list[str]]) -> list[str]:
    """Every problem with one condition operator block, as readable strings."""
    if operator not in ("IpAddress", "NotIpAddress"):
        return [f"condition operator {operator!r} is not supported; valid: IpAddress, NotIpAddress"]
    problems: list[str] = []
    valid_keys = {k.lower() for k in SOURCE_IP_KEYS}
    for key, cidrs in entries.items():
        if key.lower() not in valid_keys:
            problems.append(
                f"{operator} key {key!r} is not supported; valid: {list(SOURCE_IP_KEYS)}"
            )
        if not _listify(cidrs):
            problems.append(f"{operator}.{key} lists no networks")
        for cidr in _listify(cidrs):
            try:
                parse_network(cidr)
            except ValueError as exc:
                problems.append(f"{operator}.{key}: invalid CIDR {cidr!r} ({exc})")
    if not entries:
        problems.append(f"{operator} has no condition keys")
    return problems


class _PolicyModel(BaseModel):
    """Boundary schema for a policy document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    Version: Literal["2024-01-01"]  # POLICY_VERSION
    Id: str | None = None
    Statement: list[_StatementModel] = Field(min_length=1)


def _to_statement(model: _StatementModel, fallback_sid: str) -> Statement:
    """Convert a validated statement model into the frozen evaluation form."""
    conditions = tuple(
        IpCondition(
            networks=tuple(parse_network(c) for c in _listify(cidrs)),
            negate=operator == "NotIpAddress",
        )
        for operator, entries in model.Condition.items()
        for cidrs in entries.values()
    )
    principals = (
        None
        if model.Principal is None
        else tuple(Glob.compile(p) for p in _listify(model.Principal))
    )
    return Statement(
        sid=model.Sid or fallback_sid,
        effect=model.Effect,
        actions=tuple(Glob.compile(a, ignore_case=True) for a in _listify(model.Action)),
        resources=tuple(Glob.compile(r) for r in _listify(model.Resource)),
        principals=principals,
        conditions=conditions,
    )


def parse_policy(data: object, name: str = "policy") -> PolicyDocument:
    """Validate a policy document (a mapping), raising PolicyError that lists every problem.

    A bare statement (`{"Effect", "Action", "Resource"}`, as the seed shows) is accepted as a
    document of one statement.
    """
    if isinstance(data, dict) and "Effect" in data and "Statement" not in data:
        data = {"Version": POLICY_VERSION, "Statement": [data]}
    try:
        model = _PolicyModel.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        if any(len(err["loc"]) <= 1 for err in exc.errors()):
            problems += (
                f'; a policy looks like {{"Version": "{POLICY_VERSION}", "Statement": '
                '[{"Effect": "Allow", "Action": "multimodal:*", "Resource": "*"}]}'
            )
        raise PolicyError(f"invalid access {name}: {problems}") from exc
    return PolicyDocument(
        version=model.Version,
        id=model.Id,
        statements=tuple(
            _to_statement(s, f"{name}.Statement[{i}]") for i, s in enumerate(model.Statement)
        ),
    )


def parse_policies(items: Sequence[object]) -> tuple[PolicyDocument, ...]:
    """Validate several policy documents, naming each by position in errors."""
    return tuple(parse_policy(item, f"policy[{i}]") for i, item in enumerate(items))


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


def _is_hash(value: str) -> bool:
    """Whether a configured key value is a 'sha256:<hex>' digest rather than a key."""
    return value.startswith(_HASH_PREFIX)


def _digest(key: str) -> bytes:
    """SHA-256 of an API key."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyStore:
    """Maps API keys to principals by stored SHA-256 digests, compared in constant time."""

    def __init__(self, digests: Mapping[str, bytes]) -> None:
        seen: set[bytes] = set()
        for principal, digest in digests.items():
            if len(digest) != 32:
                raise ValueError(f"API key digest for {principal!r} is not 32 bytes")
            if digest in seen:
                raise ValueError(f"API key for {principal!r} is shared with another principal")
            seen.add(digest)
        self._entries: tuple[tuple[str, bytes], ...] = tuple(digests.items())

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def from_keys(cls, keys: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> plaintext key."""
        for principal, key in keys.items():
            if not key:
                raise ValueError(f"API key for {principal!r} is empty")
        return cls({principal: _digest(key) for principal, key in keys.items()})

    @classmethod
    def from_hashes(cls, hashes: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> sha256 hex digest of the key."""
        digests: dict[str, bytes] = {}
        for principal, hexdigest in hashes.items():
            if not _SHA256_HEX_RE.fullmatch(hexdigest):
                raise ValueError(f"API key hash for {principal!r} is not 64 hex characters")
            digests[principal] = bytes.fromhex(hexdigest)
        return cls(digests)

    @classmethod
    def from_config(cls, entries: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> key, where a value 'sha256:<hex>' is a stored digest."""
        hashes = {p: v.removeprefix(_HASH_PREFIX) for p, v in entries.items() if _is_hash(v)}
        keys = {p: v for p, v in entries.items() if not _is_hash(v)}
        merged = dict(cls.from_hashes(hashes)._entries) | dict(cls.from_keys(keys)._entries)
        return cls(merged)

    def authenticate(self, key: str) -> str | None:
        """The principal owning key, or None; every entry is compared to keep timing flat."""
        if not key:
            return None
        digest = _digest(key)
        found: str | None = None
        for principal, stored in self._entries:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found
