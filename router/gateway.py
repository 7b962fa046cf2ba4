"""What the edge's pipeline needs from a central client: the gateway protocol."""

from collections.abc import AsyncIterator
from typing import Any, Protocol

from central_client.adapters import CentralAnswer, CentralCall


class CentralGateway(Protocol):
    """What the pipeline needs from the central client."""

    def tasks(self) -> frozenset[str]:
        """Tasks the central advertises."""

    def available(self) -> tuple[bool, float]:
        """Whether a call may be made now, and else the seconds until it may."""

    def describe(self) -> dict[str, Any]:
        """State for `/readyz`."""

    async def call(self, call: CentralCall) -> CentralAnswer:
        """Run a call on the central service."""

    def stream(self, call: CentralCall) -> AsyncIterator[dict[str, Any]]:
        """Stream a generate call's events."""
