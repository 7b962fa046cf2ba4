"""The floor for the central path: a bare aiohttp forwarding proxy, one keep-alive session.

    python -m benchmarks.proxy_baseline --port P --upstream http://127.0.0.1:U

Forwards every request (method, path, body, content type) to the upstream and relays the
status, content type and body. No validation, no policy, no logging: what any proxy costs.
`--loop` picks the event loop (`common.event_loop`; `auto` is the edge's own default, so the
two are compared on the same loop).
"""

import argparse

import aiohttp
from aiohttp import web

from common.event_loop import EVENT_LOOP_KINDS, loop_factory

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.Response:
    """Relay one request to the upstream and its answer back."""
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(request.method, url, data=body, headers=headers) as r:
        payload = await r.read()
        return web.Response(body=payload, status=r.status, content_type=r.content_type)


def create_proxy_app(upstream: str) -> web.Application:
    """The proxy: one route for everything, one client session for its lifetime."""
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), cookie_jar=aiohttp.DummyCookieJar()
        )
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    """Serve on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--loop", choices=EVENT_LOOP_KINDS, default="auto")
    args = parser.parse_args()
    factory = loop_factory(args.loop)
    web.run_app(
        create_proxy_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        loop=factory() if factory else None,
    )


if __name__ == "__main__":
    main()
