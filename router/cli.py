"""The `hybrid-router` command line: up, edge, central, models, route, bench."""

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from router.report import add_subcommand as add_report_subcommand
from router.settings import Settings, load_settings

PLUGIN_GROUP = "hybrid_router.commands"


def _add_plugin_subcommands(sub: argparse._SubParsersAction) -> None:
    """Subcommands other packages register (`bench`), so the product never imports them."""
    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()(sub)


def _server_args(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", help="address to listen on (default from config)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {default_port})")
    parser.add_argument("--config", type=Path, help="YAML config file")


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from `--config` and the environment."""
    return load_settings(args.config)


def cmd_up(args: argparse.Namespace) -> int:
    """Edge + local central on loopback."""
    from router.serve import run_up

    settings = _settings(args)
    run_up(
        settings,
        args.host or settings.server.host,
        args.port if args.port is not None else settings.server.port,
        args.central_port if args.central_port is not None else settings.central_service.port,
        args.grpc_port,
    )
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """The edge node."""
    from router.serve import run_edge

    settings = _settings(args)
    run_edge(
        settings,
        args.host or settings.server.host,
        args.port if args.port is not None else settings.server.port,
        args.grpc_port,
    )
    return 0


def cmd_central(args: argparse.Namespace) -> int:
    """The central service."""
    from router.serve import run_central

    settings = _settings(args)
    service = settings.central_service
    run_central(
        settings,
        args.host or service.host,
        args.port if args.port is not None else service.port,
        args.enable_fault_hooks,
    )
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    """Print the edge models and their tasks."""
    from router.jobs import EDGE_MODEL_TASKS

    for name, task in EDGE_MODEL_TASKS.items():
        print(f"{name:24} {task}")
    return 0


def cmd_models_export(args: argparse.Namespace) -> int:
    """Export EfficientNet-Lite0 to ONNX (needs torch: the `export` extra)."""
    from edge_models.export_efficientnet import export

    report = export(args.out)
    print(report)
    return 0


def cmd_route_explain(args: argparse.Namespace) -> int:
    """POST a request file to a running edge's `/v1/route` and print the decision."""
    import asyncio
    import json

    import aiohttp

    async def explain() -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
        body = json.loads(args.file.read_text())
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                args.url.rstrip("/") + "/v1/route", json=body, headers=headers
            ) as response,
        ):
            return response.status, json.dumps(await response.json(), indent=2)

    status, text = asyncio.run(explain())
    print(text)
    return 0 if status == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    """All subcommands."""
    parser = argparse.ArgumentParser(prog="hybrid-router", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="edge (8080) + local central (8090) on loopback")
    _server_args(up, 8080)
    up.add_argument("--central-port", type=int, help="central port (default 8090)")
    up.add_argument("--grpc-port", type=int, default=50051, help="gRPC port (0 disables)")
    up.set_defaults(func=cmd_up)

    edge = sub.add_parser("edge", help="the edge node (port 8080)")
    _server_args(edge, 8080)
    edge.add_argument("--grpc-port", type=int, default=50051, help="gRPC port (0 disables)")
    edge.set_defaults(func=cmd_edge)

    central = sub.add_parser("central", help="the central service (port 8090)")
    _server_args(central, 8090)
    central.add_argument(
        "--enable-fault-hooks",
        action="store_true",
        help="expose POST /admin/faults (tests and drills only)",
    )
    central.set_defaults(func=cmd_central)

    models = sub.add_parser("models", help="edge models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="list edge models").set_defaults(func=cmd_models_list)
    export = models_sub.add_parser("export", help="export EfficientNet-Lite0 to ONNX")
    export.add_argument("--out", type=Path, default=Path("edge_models/assets"))
    export.set_defaults(func=cmd_models_export)
    _add_plugin_subcommands(sub)
    add_report_subcommand(sub)

    route = sub.add_parser("route", help="routing decisions")
    route_sub = route.add_subparsers(dest="route_command", required=True)
    explain = route_sub.add_parser("explain", help="dry-run a request file through the policy")
    explain.add_argument(
        "file", type=Path, help='JSON body of a /v3 generate request (optionally with "model")'
    )
    explain.add_argument("--url", default="http://127.0.0.1:8080", help="a running edge node")
    explain.add_argument("--api-key", help="credential, if the edge requires one")
    explain.set_defaults(func=cmd_route_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
