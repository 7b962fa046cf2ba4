"""Confidence cascade on a labelled set: edge-only accuracy, cascade accuracy, share escalated.

    python -m benchmarks.cascade_eval [--threshold 0.6]

Starts `hybrid-router up` (edge + the real central LLM), sends every sentence of
tests/data/zero_shot.yaml twice — pinned to the edge, then through the cascade — and writes
the numbers into benchmarks/results/cascade-<timestamp>.json.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from benchmarks.node import local_up
from benchmarks.results import envelope, timestamp, write_results

DATA = Path(__file__).parent.parent / "tests" / "data" / "zero_shot.yaml"


async def classify(
    session: aiohttp.ClientSession, url: str, text: str, labels: list[str], route: str
) -> dict[str, Any]:
    """One classification through the edge; returns the first output."""
    body = {
        "inputs": {"text": text},
        "parameters": {"labels": labels, "route": route, "cache": False},
    }
    async with session.post(url + "/v3/models/auto/generate", json=body) as response:
        payload = await response.json()
        if response.status != 200:
            return {"error": payload.get("error", {}).get("code", str(response.status))}
        return payload["outputs"][0]


async def evaluate(threshold: float) -> dict[str, Any]:
    """Both passes over the labelled set."""
    data = yaml.safe_load(DATA.read_text())
    labels, examples = data["labels"], data["examples"]
    env = {
        "HYBRID_ROUTER_ROUTING__CASCADE_ENABLED": "true",
        "HYBRID_ROUTER_ROUTING__CASCADE_THRESHOLD": str(threshold),
    }
    async with local_up(env) as node, aiohttp.ClientSession() as session:
        edge = [await classify(session, node.url, t, labels, "edge") for t, _ in examples]
        cascade = [await classify(session, node.url, t, labels, "auto") for t, _ in examples]

    def accuracy(outputs: list[dict[str, Any]]) -> float:
        right = sum(
            "labels" in o and o["labels"][0]["label"] == y
            for o, (_, y) in zip(outputs, examples, strict=True)
        )
        return round(right / len(examples), 4)

    escalated = [o for o in cascade if o.get("answered_by") == "central"]
    central_right = sum(
        o.get("answered_by") == "central" and o["labels"][0]["label"] == y
        for o, (_, y) in zip(cascade, examples, strict=True)
    )
    return {
        "examples": len(examples),
        "threshold": threshold,
        "edge_only_accuracy": accuracy(edge),
        "cascade_accuracy": accuracy(cascade),
        "escalated_share": round(len(escalated) / len(examples), 4),
        "escalated_correct": central_right,
        "errors": [o["error"] for o in cascade if "error" in o],
    }


def main() -> None:
    """Run and write the results file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    numbers = asyncio.run(evaluate(args.threshold))
    document = envelope(
        "cascade",
        ["python", "-m", "benchmarks.cascade_eval", *sys.argv[1:]],
        {"threshold": args.threshold},
    )
    document["results"] = numbers
    path = write_results(args.out, f"cascade-{timestamp()}", document)
    print(numbers, "->", path)


if __name__ == "__main__":
    main()
