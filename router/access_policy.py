"""Access policy documents: the IAM-shaped JSON validated by pydantic, then frozen for evaluation.

:func:`parse_policy` checks a document at the boundary and reports every problem at once;
the result is the `router.access` dataclasses that `AccessEvaluator` evaluates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.access import Glob, IpCondition, PolicyDocument, Statement, parse_network

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


class PolicyError(ValueError):
    """A policy document is invalid; the message lists every problem found."""


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
