"""Tests for access policies, their evaluation and API keys (router.access*, router.api_keys)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from router.access import (
    AccessDecision,
    AccessEvaluator,
    AccessRequest,
    normalize_ip,
    parse_network,
)
from router.access_policy import PolicyError, parse_policies, parse_policy
from router.api_keys import ApiKeyStore


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    """A policy document around the given statements."""
    return {"Version": "2024-01-01", "Statement": list(statements)}


def allow(**extra: Any) -> dict[str, Any]:
    """An Allow statement for every action on every model, plus overrides."""
    return {"Effect": "Allow", "Action": "multimodal:*", "Resource": "model/*", **extra}


def deny(**extra: Any) -> dict[str, Any]:
    """A Deny statement for every action on every model, plus overrides."""
    return {"Effect": "Deny", "Action": "multimodal:*", "Resource": "model/*", **extra}


def decide(
    statements: list[dict[str, Any]],
    *,
    principal: str = "app-1",
    action: str = "multimodal:Generate",
    resource: str = "model/multimodal-pro",
    ip: str = "127.0.0.1",
) -> AccessDecision:
    """Evaluate one request against one policy built from statements."""
    evaluator = AccessEvaluator([parse_policy(policy(*statements))])
    return evaluator.evaluate(AccessRequest(principal, action, resource, ip))


def allowed_from(ip: str, condition: dict[str, Any], effect: str = "Allow") -> bool:
    """Whether a request from ip is allowed under one IP-conditioned statement (+ allow-all)."""
    if effect == "Allow":
        return decide([allow(Condition=condition)], ip=ip).allowed
    return decide([allow(), deny(Condition=condition)], ip=ip).allowed


def test_no_policies_allows_everything() -> None:
    decision = AccessEvaluator([]).evaluate(AccessRequest("x", "multimodal:Embed", "model/a", "?"))
    assert decision == AccessDecision(True, "no access policies configured", None)


def test_allow_names_the_statement() -> None:
    decision = decide([allow(Sid="AppsMayGenerate")])
    assert decision.allowed
    assert decision.statement_id == "AppsMayGenerate"


def test_explicit_deny_wins_over_allow_in_any_order() -> None:
    for statements in ([allow(), deny(Sid="NoPro")], [deny(Sid="NoPro"), allow()]):
        decision = decide(statements)
        assert not decision.allowed
        assert decision.statement_id == "NoPro"
        assert "denied" in decision.reason


def test_deny_in_another_policy_wins() -> None:
    evaluator = AccessEvaluator(parse_policies([policy(allow()), policy(deny(Sid="D"))]))
    decision = evaluator.evaluate(AccessRequest("a", "multimodal:Embed", "model/m", "10.0.0.1"))
    assert (decision.allowed, decision.statement_id) == (False, "D")


def test_implicit_deny_without_matching_allow() -> None:
    decision = decide([allow(Action="multimodal:Embed")], action="multimodal:Generate")
    assert not decision.allowed
    assert decision.statement_id is None
    assert "no statement allows multimodal:Generate" in decision.reason


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "multimodal:ListModels", True),
        ("multimodal:*", "multimodal:Route", True),
        ("multimodal:Classify*", "multimodal:ClassifyImage", True),
        ("multimodal:Classify", "multimodal:ClassifyImage", False),
        ("multimodal:generate", "MULTIMODAL:GENERATE", True),
        (["multimodal:Embed", "multimodal:DetectSpeech"], "multimodal:detectspeech", True),
        (["multimodal:Embed", "multimodal:DetectSpeech"], "multimodal:Generate", False),
        ("multimodal:?mbed", "multimodal:Embed", True),
    ],
)
def test_action_wildcards_are_case_insensitive(
    pattern: str | list[str], action: str, expected: bool
) -> None:
    assert decide([allow(Action=pattern)], action=action).allowed is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", "model/anything", True),
        ("model/*", "model/all-minilm-l6-v2", True),
        ("model/minilm-*", "model/minilm-int8", True),
        ("model/minilm-*", "model/efficientnet", False),
        ("model/Pro", "model/pro", False),
        (["model/a", "model/b"], "model/b", True),
        ("model/a", "model/a/extra", False),
    ],
)
def test_resource_globbing(pattern: str | list[str], resource: str, expected: bool) -> None:
    assert decide([allow(Resource=pattern)], resource=resource).allowed is expected


@pytest.mark.parametrize(
    ("principal_field", "caller", "expected"),
    [
        ("app-1", "app-1", True),
        ("app-1", "app-2", False),
        (["app-1", "app-2"], "app-2", True),
        ("*", "whoever", True),
        ("team-a/*", "team-a/svc", True),
        ("team-a/*", "team-b/svc", False),
    ],
)
def test_principal_matching(principal_field: str | list[str], caller: str, expected: bool) -> None:
    assert decide([allow(Principal=principal_field)], principal=caller).allowed is expected


def test_deny_for_one_principal_only() -> None:
    statements = [allow(), deny(Principal="intruder")]
    assert decide(statements, principal="app-1").allowed
    assert not decide(statements, principal="intruder").allowed


@pytest.mark.parametrize(
    ("cidr", "ip", "inside"),
    [
        ("10.0.0.0/8", "10.0.0.0", True),
        ("10.0.0.0/8", "10.255.255.255", True),
        ("10.0.0.0/8", "9.255.255.255", False),
        ("10.0.0.0/8", "11.0.0.0", False),
        ("192.168.1.0/24", "192.168.1.0", True),
        ("192.168.1.0/24", "192.168.1.255", True),
        ("192.168.1.0/24", "192.168.2.0", False),
        ("192.168.1.0/24", "192.168.0.255", False),
        ("203.0.113.7/32", "203.0.113.7", True),
        ("203.0.113.7/32", "203.0.113.8", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7", "203.0.113.6", False),
        ("0.0.0.0/0", "255.255.255.255", True),
        ("0.0.0.0/0", "::1", False),
        ("::/0", "2001:db8::1", True),
        ("::/0", "10.0.0.1", False),
        ("2001:db8::/32", "2001:db8::", True),
        ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db8::/32", "2001:db9::", False),
        ("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", False),
        ("2001:db8::1/128", "2001:db8::1", True),
        ("2001:db8::1/128", "2001:db8::2", False),
        ("2001:db8::1", "2001:DB8:0:0:0:0:0:1", True),
        ("10.0.0.0/8", "::ffff:10.0.0.1", True),
        ("10.0.0.0/8", "::ffff:11.0.0.1", False),
        ("::ffff:10.0.0.0/104", "10.1.2.3", True),
        ("::ffff:10.0.0.0/104", "::ffff:10.1.2.3", True),
        ("::ffff:10.0.0.0/104", "11.1.2.3", False),
        ("fe80::/10", "fe80::1%eth0", True),
    ],
)
def test_ip_address_conditions(cidr: str, ip: str, inside: bool) -> None:
    key = "aws:SourceIp"
    assert allowed_from(ip, {"IpAddress": {key: cidr}}) is inside
    assert allowed_from(ip, {"NotIpAddress": {key: cidr}}) is not inside
    assert allowed_from(ip, {"IpAddress": {key: cidr}}, effect="Deny") is not inside
    assert allowed_from(ip, {"NotIpAddress": {key: cidr}}, effect="Deny") is inside


def test_condition_lists_are_ored_and_keys_are_aliases() -> None:
    condition = {"IpAddress": {"SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}
    assert allowed_from("10.9.9.9", condition)
    assert allowed_from("2001:db8::5", condition)
    assert not allowed_from("192.0.2.1", condition)
    assert allowed_from("10.9.9.9", {"IpAddress": {"aws:sourceip": "10.0.0.0/8"}})


def test_ip_address_and_not_ip_address_are_anded() -> None:
    condition = {
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "NotIpAddress": {"aws:SourceIp": "10.66.0.0/16"},
    }
    assert allowed_from("10.1.1.1", condition)
    assert not allowed_from("10.66.1.1", condition)
    assert not allowed_from("192.0.2.1", condition)


@pytest.mark.parametrize("bad_ip", ["", "not-an-ip", "10.0.0.256", "10.0.0.1:8080", "::g"])
def test_invalid_source_ip_fails_closed(bad_ip: str) -> None:
    inside = {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}
    outside = {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert not allowed_from(bad_ip, inside)
    assert not allowed_from(bad_ip, outside)
    assert not allowed_from(bad_ip, outside, effect="Deny")
    assert not allowed_from(bad_ip, inside, effect="Deny")
    assert decide([allow()], ip=bad_ip).allowed


def test_ip_helpers() -> None:
    assert str(normalize_ip("::ffff:192.0.2.1")) == "192.0.2.1"
    assert normalize_ip("nope") is None
    assert str(parse_network("::ffff:10.0.0.0/104")) == "10.0.0.0/8"
    assert str(parse_network("2001:db8::1")) == "2001:db8::1/128"


@pytest.mark.parametrize(
    ("document", "fragments"),
    [
        (
            policy(allow(Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/33", "10.0.0.1/8"]}})),
            ["Statement.0.Condition", "'10.0.0.0/33'", "'10.0.0.1/8'", "host bits"],
        ),
        (
            policy(allow(Condition={"IpAddress": {"aws:SourceIp": "2001:db8::/129"}})),
            ["invalid CIDR '2001:db8::/129'"],
        ),
        (
            policy(allow(Condition={"StringEquals": {"aws:username": "x"}})),
            ["'StringEquals' is not supported", "IpAddress, NotIpAddress"],
        ),
        (
            policy(allow(Condition={"IpAddress": {"aws:UserAgent": "10.0.0.0/8"}})),
            ["'aws:UserAgent' is not supported", "aws:SourceIp"],
        ),
        (
            {"Version": "2012-10-17", "Statement": [allow(Effect="Permit", Action="s3:*")]},
            ["Version", "Statement.0.Effect", "'s3:*'", "multimodal:Generate"],
        ),
        (policy(allow(Resource="bucket/x")), ["Statement.0.Resource", "'bucket/x'", "model/*"]),
        (policy(allow(Action=[])), ["Statement.0.Action"]),
        (policy(allow(Principal=[""])), ["principal ids must be non-empty"]),
        (policy(allow(NotAction="x")), ["Statement.0.NotAction", "Extra inputs"]),
        ({"Version": "2024-01-01", "Statement": []}, ["Statement"]),
        ({"Version": "2024-01-01"}, ["Statement", "Field required"]),
    ],
)
def test_invalid_policies_list_every_problem(document: Any, fragments: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(document)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_parse_policies_names_the_bad_document() -> None:
    with pytest.raises(PolicyError, match=r"policy\[1\]"):
        parse_policies([policy(allow()), policy(allow(Effect="Maybe"))])


def test_default_statement_ids_are_positional() -> None:
    evaluator = AccessEvaluator(parse_policies([policy(deny(), allow()), policy(allow())]))
    decision = evaluator.evaluate(AccessRequest("a", "multimodal:Embed", "model/m", "10.0.0.1"))
    assert decision.statement_id == "policy[0].Statement[0]"


def test_api_key_store_from_keys_and_hashes() -> None:
    store = ApiKeyStore.from_keys({"app-1": "k-one", "app-2": "k-two"})
    assert store.authenticate("k-one") == "app-1"
    assert store.authenticate("k-two") == "app-2"
    assert store.authenticate("k-three") is None
    assert store.authenticate("") is None
    assert store.authenticate("K-ONE") is None
    hashed = ApiKeyStore.from_hashes({"svc": hashlib.sha256(b"s3cr3t").hexdigest().upper()})
    assert hashed.authenticate("s3cr3t") == "svc"
    assert hashed.authenticate(hashlib.sha256(b"s3cr3t").hexdigest()) is None


def test_api_key_store_from_config_mixes_keys_and_digests() -> None:
    digest = hashlib.sha256("clé".encode()).hexdigest()
    store = ApiKeyStore.from_config({"a": f"sha256:{digest}", "b": "plain-key"})
    assert len(store) == 2
    assert store.authenticate("clé") == "a"
    assert store.authenticate("plain-key") == "b"
    assert store.authenticate(f"sha256:{digest}") is None


def test_api_key_store_rejects_bad_entries_without_echoing_secrets() -> None:
    with pytest.raises(ValueError, match="'svc'") as info:
        ApiKeyStore.from_hashes({"svc": "abc123"})
    assert "abc123" not in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        ApiKeyStore.from_keys({"svc": ""})
    with pytest.raises(ValueError, match="shared") as shared:
        ApiKeyStore.from_keys({"a": "same-key", "b": "same-key"})
    assert "same-key" not in str(shared.value)
