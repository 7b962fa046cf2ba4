"""Provider-level hedging on a heavy-tailed upstream: p99 with and without the hedge, extra load.

Two scripted OpenAI-compatible providers answer embeddings in ~`median_ms`, except a seeded
`tail_share` of answers that take `tail_factor` times longer. The same open-loop schedule
(constant rate, latency from the intended send time) runs once with hedging off and once on.

    python -m benchmarks.hedging [--requests 400] [--rate 80]
"""

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.results import envelope, timestamp, write_results
from central_client.adapters import CentralCall
from central_client.config import ClientConfig, HedgeConfig, ProviderConfig
from central_client.factory import build_client
from central_client.transport import AiohttpTransport

RESULTS = Path("benchmarks/results")


def tail_app(median_s: float, tail_share: float, tail_factor: float, seed: int) -> web.Application:
    """An embeddings upstream with a heavy tail; counts what it is asked."""
    rng = random.Random(seed)
    app = web.Application()
    app["served"] = 0

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        app["served"] += 1
        slow = rng.random() < tail_share
        jitter = rng.uniform(0.8, 1.2)
        await asyncio.sleep(median_s * jitter * (tail_factor if slow else 1.0))
        rows = [{"index": i, "embedding": [0.1, 0.2]} for i, _ in enumerate(body["input"])]
        return web.json_response({"data": rows, "model": "m"})

    app.router.add_post("/v1/embeddings", embeddings)
    return app


def quantiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds (nearest rank)."""
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {"p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": q(1.0)}


async def run(
    urls: list[str], hedge: bool, requests: int, rate: float, quantile: float
) -> dict[str, Any]:
    """One open-loop run; latencies from intended send times."""
    providers = tuple(ProviderConfig(f"p{i + 1}", "openai", u, "m") for i, u in enumerate(urls))
    config = ClientConfig(
        providers=providers,
        batch_size=1,
        hedge=HedgeConfig(enabled=hedge, quantile=quantile, min_samples=20),
    )
    async with aiohttp.ClientSession() as session:
        client = build_client(config, AiohttpTransport(session))
        warm = [CentralCall("embed", ({"text": f"w{i}"},), (), "w") for i in range(60)]
        for item in warm:  # seeds the first provider's recent latency
            await client.call(item)
        client.hedges = 0
        latencies: list[float] = []
        errors = 0
        start = time.monotonic()

        async def one(i: int) -> None:
            nonlocal errors
            intended = start + i / rate
            await asyncio.sleep(max(0.0, intended - time.monotonic()))
            try:
                await client.call(CentralCall("embed", ({"text": str(i)},), (), f"r{i}"))
            except Exception:
                errors += 1
            latencies.append(time.monotonic() - intended)

        await asyncio.gather(*(one(i) for i in range(requests)))
        await client.close()
    return {
        "hedge": hedge,
        "requests": requests,
        "errors": errors,
        "hedges": client.hedges,
        **quantiles(latencies),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Both runs against fresh upstreams with the same seeds."""
    rows = []
    for hedge in (False, True):
        apps = [
            tail_app(args.median_ms / 1000, args.tail_share, args.tail_factor, seed)
            for seed in (1, 2)
        ]
        runners = [web.AppRunner(app, access_log=None) for app in apps]
        urls = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            urls.append(f"http://127.0.0.1:{port}")
        row = await run(urls, hedge, args.requests, args.rate, args.quantile)
        served = sum(app["served"] for app in apps) - 60  # minus the warm-up calls
        row["upstream_calls"] = served
        row["extra_load"] = round(served / args.requests - 1, 4)
        rows.append(row)
        for runner in runners:
            await runner.cleanup()
    off, on = rows
    return {
        "rows": rows,
        "summary": {
            "p99_without_hedge_ms": off["p99_ms"],
            "p99_with_hedge_ms": on["p99_ms"],
            "p99_ratio": round(on["p99_ms"] / off["p99_ms"], 3),
            "extra_load": on["extra_load"],
            "errors": off["errors"] + on["errors"],
        },
    }


def cli() -> None:
    """Run and write `benchmarks/results/hedging-<time>.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--median-ms", type=float, default=20.0)
    parser.add_argument("--tail-share", type=float, default=0.05)
    parser.add_argument("--tail-factor", type=float, default=10.0)
    parser.add_argument("--quantile", type=float, default=0.95, help="hedge after this quantile")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    document = {
        **envelope("hedging", ["python", "-m", "benchmarks.hedging", *sys.argv[1:]], vars(args)),
        **result,
    }
    stem = f"hedging-q{round(args.quantile * 100)}-{timestamp()}"
    path = write_results(RESULTS, stem, document)
    print(path)
    for row in result["rows"]:
        print(row)
    print(result["summary"])


if __name__ == "__main__":
    cli()
