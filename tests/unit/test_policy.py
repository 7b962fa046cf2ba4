"""Each routing policy on hand-built states (no I/O), and their composition."""

import dataclasses

import pytest

from router.costs import Price
from router.jobs import Job, JobInput, JobParams
from router.policy import (
    CapabilityPolicy,
    CascadePolicy,
    CostPolicy,
    DeadlinePolicy,
    HealthPolicy,
    LoadPolicy,
    PinningPolicy,
    PolicyChain,
    PrivacyPolicy,
    SizePolicy,
    UnknownPolicy,
)
from router.route_state import RouteState, RoutingConfig

EDGE_TASKS = frozenset({"embed", "classify", "classify_image", "detect_speech"})
CENTRAL_TASKS = frozenset({"generate", "embed", "classify"})


def job(task: str = "classify", text: str = "hello", **params: object) -> Job:
    return Job(
        request_id="r",
        model="auto",
        task=task,
        inputs=(JobInput(text=text),),
        params=JobParams(**params),  # type: ignore[arg-type]
    )


def state(**overrides: object) -> RouteState:
    base = RouteState(
        edge_tasks=EDGE_TASKS,
        edge_models=frozenset({"all-minilm-l6-v2", "minilm-zero-shot"}),
        central_tasks=CENTRAL_TASKS,
        now=100.0,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def test_capability_rejects_tasks_nobody_serves() -> None:
    decision = CapabilityPolicy().decide(job("transcribe"), state())
    assert decision is not None and decision.target == "reject" and decision.status == 400
    assert CapabilityPolicy().decide(job("classify"), state()) is None


def test_capability_says_503_while_a_pinned_edge_model_is_missing() -> None:
    pinned = dataclasses.replace(job("embed"), pinned_edge_model="all-minilm-l6-v2")
    decision = CapabilityPolicy().decide(pinned, state(edge_models=frozenset()))
    assert decision is not None and decision.status == 503


@pytest.mark.parametrize(
    ("the_job", "target", "reason"),
    [
        (job(route="edge"), "edge", "pinned:edge"),
        (job(route="central"), "central", "pinned:central"),
        (
            dataclasses.replace(job("embed"), pinned_edge_model="all-minilm-l6-v2"),
            "edge",
            "pinned:edge",
        ),
        (job("generate", route="edge"), "reject", "pinned:edge-unable"),
        (job("classify_image", route="central"), "reject", "pinned:central-unable"),
    ],
)
def test_pinning(the_job: Job, target: str, reason: str) -> None:
    decision = PinningPolicy().decide(the_job, state())
    assert decision is not None
    assert (decision.target, decision.reason) == (target, reason)


def test_pinning_to_an_unavailable_central_is_503_with_retry_after() -> None:
    decision = PinningPolicy().decide(
        job(route="central"), state(central_available=False, central_retry_after_s=7)
    )
    assert decision is not None
    assert (decision.status, decision.retry_after_s) == (503, 7)


def test_pinned_edge_model_is_never_sent_central() -> None:
    pinned = dataclasses.replace(job("embed"), pinned_edge_model="all-minilm-l6-v2")
    assert not state().central_can(pinned)


def test_embed_goes_central_only_when_pinned() -> None:
    assert not state().central_can(job("embed"))
    assert state().central_can(job("embed", route="central"))


def test_health_prefers_edge_then_503() -> None:
    down = state(central_available=False, central_retry_after_s=4)
    assert HealthPolicy().decide(job("classify"), down).target == "edge"  # type: ignore[union-attr]
    decision = HealthPolicy().decide(job("generate"), down)
    assert decision is not None and decision.status == 503 and decision.retry_after_s == 4
    assert HealthPolicy().decide(job("generate"), state()) is None


def test_deadline_picks_the_target_that_fits() -> None:
    latency = {("edge", "classify"): 900.0, ("central", "classify"): 80.0}
    deadline_job = dataclasses.replace(job("classify"), deadline=100.2)  # 200 ms left
    decision = DeadlinePolicy().decide(deadline_job, state(latency_p95_ms=latency))
    assert decision is not None and decision.target == "central"


def test_deadline_counts_the_edge_queue() -> None:
    latency = {("edge", "classify"): 10.0, ("central", "classify"): 1000.0}
    deadline_job = dataclasses.replace(job("classify"), deadline=100.05)  # 50 ms left
    calm = state(latency_p95_ms=latency, latency_p50_ms=latency)
    assert DeadlinePolicy().decide(deadline_job, calm).target == "edge"  # type: ignore[union-attr]
    busy = dataclasses.replace(calm, task_queue={"classify": 20})  # 20 × 10 ms ahead
    decision = DeadlinePolicy().decide(deadline_job, busy)
    assert decision is not None and decision.status == 504


def test_deadline_fails_fast_when_nothing_fits() -> None:
    latency = {("central", "generate"): 3000.0}
    decision = DeadlinePolicy().decide(
        dataclasses.replace(job("generate"), deadline=100.5), state(latency_p95_ms=latency)
    )
    assert decision is not None and decision.status == 504
    assert "central" in decision.message


def test_deadline_without_estimates_is_optimistic() -> None:
    decision = DeadlinePolicy().decide(
        dataclasses.replace(job("generate"), deadline=100.5), state()
    )
    assert decision is not None and decision.target == "central"


def test_size_sends_long_text_central_only_where_the_central_is_better() -> None:
    config = RoutingConfig(max_edge_text_chars=10, central_better_tasks=frozenset({"classify"}))
    decision = SizePolicy().decide(job("classify", text="x" * 11), state(config=config))
    assert decision is not None and decision.reason == "size:text-over-edge-limit"
    assert SizePolicy().decide(job("classify", text="x" * 10), state(config=config)) is None


def test_long_classify_and_embed_stay_on_the_edge_by_default() -> None:
    config = RoutingConfig(max_edge_text_chars=10)
    long_text = "x" * 5400
    assert SizePolicy().decide(job("classify", text=long_text), state(config=config)) is None
    assert SizePolicy().decide(job("embed", text=long_text), state(config=config)) is None
    chain = PolicyChain.from_names(RoutingConfig().policies)
    assert chain.decide(job("classify", text=long_text), state(config=config)).target == "edge"


def test_load_offloads_when_the_edge_queue_is_deep() -> None:
    config = RoutingConfig(edge_queue_threshold=5)
    busy = state(config=config, task_queue={"classify": 5})
    assert LoadPolicy().decide(job("classify"), busy).target == "central"  # type: ignore[union-attr]
    assert LoadPolicy().decide(job("classify"), state(config=config)) is None
    down = dataclasses.replace(busy, central_available=False)
    assert LoadPolicy().decide(job("classify"), down) is None


def test_cascade_arms_escalation_for_classify_only() -> None:
    on = state(config=RoutingConfig(cascade_enabled=True))
    decision = CascadePolicy().decide(job("classify"), on)
    assert decision is not None and decision.cascade and decision.target == "edge"
    assert CascadePolicy().decide(job("embed"), on) is None
    assert CascadePolicy().decide(job("classify"), state()) is None  # off by default


def test_privacy_pins_pii_to_the_edge_or_refuses() -> None:
    pin = state(config=RoutingConfig(privacy_mode="pin"))
    pii = dataclasses.replace(job("classify"), pii_kinds=frozenset({"email"}))
    assert PrivacyPolicy().decide(pii, pin).target == "edge"  # type: ignore[union-attr]
    generate = dataclasses.replace(job("generate"), pii_kinds=frozenset({"email"}))
    decision = PrivacyPolicy().decide(generate, pin)
    assert decision is not None and decision.status == 403
    redact = state()  # the default, as in the settings
    assert PrivacyPolicy().decide(generate, redact) is None


def test_the_routing_section_is_the_policies_config() -> None:
    from router.settings import Settings

    routing = Settings().routing
    assert isinstance(routing, RoutingConfig) and routing == RoutingConfig()
    assert routing.privacy_mode == "redact"


def test_cost_picks_the_cheaper_target() -> None:
    cheap_central = RoutingConfig(costs={"edge": Price(per_call=1.0), "central": Price()})
    decision = CostPolicy().decide(job("classify"), state(config=cheap_central))
    assert decision is not None and decision.target == "central"
    assert CostPolicy().decide(job("classify"), state()).target == "edge"  # type: ignore[union-attr]


def test_cost_prices_prompt_and_completion_tokens_apart() -> None:
    prices = {"edge": Price(per_call=0.01), "central": Price(per_1k_completion_tokens=1.0)}
    config = RoutingConfig(costs=prices)
    text = "x" * 4000  # about 1000 prompt tokens, free on the central here
    short = CostPolicy().decide(job("classify", text, max_tokens=1), state(config=config))
    assert short is not None and short.reason == "cost:central-cheaper"  # 0.001 < 0.01
    long = CostPolicy().decide(job("classify", text, max_tokens=100), state(config=config))
    assert long is not None and long.reason == "cost:edge-cheaper"  # 0.1 > 0.01


def test_chain_first_decisive_policy_wins() -> None:
    chain = PolicyChain.from_names(RoutingConfig().policies)
    assert chain.decide(job("generate"), state()).reason == "capability:central-only"
    assert chain.decide(job("embed"), state()).target == "edge"
    assert chain.decide(job("classify"), state()).reason == "cost:edge-cheaper"
    cascading = state(config=RoutingConfig(cascade_enabled=True))
    assert chain.decide(job("classify"), cascading).reason == "cascade:edge-first"
    down = state(central_available=False, central_retry_after_s=3)
    assert chain.decide(job("generate"), down).status == 503
    assert chain.decide(job("classify"), down).reason == "health:central-unavailable"
    assert chain.names[-1] == "default"


def test_chain_order_changes_the_outcome() -> None:
    busy = state(
        config=RoutingConfig(edge_queue_threshold=1, cascade_enabled=True),
        task_queue={"classify": 3},
    )
    assert PolicyChain.from_names(["load", "cascade"]).decide(job(), busy).target == "central"
    assert PolicyChain.from_names(["cascade", "load"]).decide(job(), busy).target == "edge"


def test_unknown_policy_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownPolicy) as err:
        PolicyChain.from_names(["pinning", "teleport"])
    assert "teleport" in str(err.value) and "deadline" in str(err.value)
