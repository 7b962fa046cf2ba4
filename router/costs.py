"""The one price list's type: what a call costs on a target, for the cost policy and the call log.

The list itself is configured once, as `routing.costs` (`RoutingConfig.costs`): the cost policy
prices a job before it runs, the call log prices each answered call with its real token counts,
and `hybrid-router report` sums what the call log wrote.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from common.settings_base import STRICT

Money = Annotated[float, Field(ge=0)]


@dataclass(frozen=True)
class Price:
    """A target's prices: a flat fee per call, and per 1k prompt and completion tokens."""

    __pydantic_config__ = STRICT

    per_call: Money = 0.0
    per_1k_prompt_tokens: Money = 0.0
    per_1k_completion_tokens: Money = 0.0

    def of(self, prompt_tokens: float, completion_tokens: float) -> float:
        """The cost of one call with these token counts."""
        per_1k = self.per_1k_prompt_tokens * prompt_tokens
        per_1k += self.per_1k_completion_tokens * completion_tokens
        return self.per_call + per_1k / 1000


FREE = Price()


def call_cost(
    prices: Mapping[str, Price], target: str, prompt_tokens: float, completion_tokens: float
) -> float:
    """What a call on `target` costs; a target with no price (`cache`, `none`) costs nothing."""
    return prices.get(target, FREE).of(prompt_tokens, completion_tokens)
